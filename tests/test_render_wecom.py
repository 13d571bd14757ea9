"""WeCom rendering: markdown and text within the byte limits, nothing lost, template cards
within WeCom's field limits, and button keys that carry their command back."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.types import Action, Chart, Field, Item, Reply, Table
from integrations.wecom.render import (
    MARKDOWN_MAX_BYTES,
    TEXT_MAX_BYTES,
    OutgoingImage,
    decode_button_key,
    encode_button_key,
    make_task_id,
    markdown_chunks,
    neutralise,
    render,
    template_cards,
    unneutralise,
)
from tests.snapshots import check_snapshot

PNG = b"\x89PNG\r\n\x1a\n-not-really-a-chart"


def candidates() -> Reply:
    return Reply(
        title="“zs”有 2 位客户，回复序号选择：",
        items=[
            Item(
                1,
                "张三  138****5678",
                "消费 ¥1,299.00 · 最近 2026-10-01",
                [Action("查看", "查 #1", "primary")],
            ),
            Item(
                2, "张珊  139****5678", "消费 ¥99.00 · 最近 2026-09-01", [Action("查看", "查 #2")]
            ),
        ],
    )


def tasks(n: int) -> Reply:
    return Reply(
        title="今天的任务",
        items=[
            Item(
                i,
                f"客户{i} · 流失预警",
                "好久不见，新品到店了",
                [Action("完成", f"完成 {i}", "primary"), Action("延后", f"延后 {i}")],
            )
            for i in range(1, n + 1)
        ],
    )


def markdown_of(payloads: list[Any]) -> str:
    return "\n".join(
        p["markdown"]["content"]
        for p in payloads
        if isinstance(p, dict) and p["msgtype"] == "markdown"
    )


def cards_of(payloads: list[Any]) -> list[dict[str, Any]]:
    return [
        p["template_card"]
        for p in payloads
        if isinstance(p, dict) and p["msgtype"] == "template_card"
    ]


def test_candidates_render_as_markdown_and_a_button_card() -> None:
    payloads = render(candidates(), task_id="t-1")
    assert [p["msgtype"] for p in payloads if isinstance(p, dict)] == ["markdown", "template_card"]
    md = markdown_of(payloads)
    assert "**“zs”有 2 位客户，回复序号选择：**" in md
    assert "1. **张三  138∗∗∗∗5678**" in md  # stars that cannot pair up as bold
    assert "138****5678" in unneutralise(md)
    (card,) = cards_of(payloads)
    assert card["card_type"] == "button_interaction" and card["task_id"] == "t-1"
    assert [b["text"] for b in card["button_list"]] == ["1 查看", "2 查看"]
    assert [decode_button_key(b["key"]) for b in card["button_list"]] == ["查 #1", "查 #2"]
    assert [b["style"] for b in card["button_list"]] == [1, 2]
    assert card["horizontal_content_list"][0] == {"keyname": "1", "value": "张三 138****5678"}
    check_snapshot("wecom_candidates", payloads)


def test_profile_fields_and_kpi_changes() -> None:
    reply = Reply(
        title="双11活动",
        fields=[
            Field("净销售额", "¥1,234,567.00", "+12.5%"),
            Field("退款人数", "37", "-4.0%"),
            Field("ROI", "3.2", "0%"),
            Field("最近跟进", "10-01 王芳: 试穿\n10-02 王芳: 回访"),
        ],
        footer="口径：净销售额 = 实付 − 退款",
    )
    md = markdown_of(render(reply))
    assert '**净销售额**：¥1,234,567.00 <font color="info">▲ +12.5%</font>' in md
    assert '**退款人数**：37 <font color="warning">▼ -4.0%</font>' in md
    assert '**ROI**: 3.2 <font color="comment">0%</font>' in md
    assert "10-01 王芳: 试穿\n10-02 王芳: 回访" in md
    assert '<font color="comment">口径：净销售额 = 实付 − 退款</font>' in md
    check_snapshot("wecom_profile", render(reply, task_id="t"))


def test_help_table_is_one_line_per_row() -> None:
    reply = Reply(title="你可以这样问我", table=Table(["命令", "说明"], [["搜", "找客户"]]))
    assert markdown_of(render(reply)) == (
        '**你可以这样问我**\n\n<font color="comment">命令 · 说明</font>\n**搜** · 找客户'
    )
    wide = Reply(table=Table(["门店", "销售额", "订单"], [["上海店", "¥10", "3"]]))
    assert "**上海店** · 销售额 ¥10 · 订单 3" in markdown_of(render(wide))


def test_text_mode_is_the_plain_rendering() -> None:
    payloads = render(candidates(), fmt="text", task_id="t")
    assert payloads[0] == {"msgtype": "text", "text": {"content": candidates().plain()}}
    assert cards_of(payloads[1:]) and len(payloads) == 2


def test_user_text_cannot_switch_on_markdown() -> None:
    hostile = '**bold** <font color="info">green</font> [link](http://x) `code` &lt;'
    out = neutralise(hostile)
    for syntax in ["**", "<font", "](", "`", "&lt;"]:
        assert syntax not in out
    assert unneutralise(out) == hostile
    assert neutralise("# not a heading").startswith("\u200b#")
    assert neutralise("> not a quote").startswith("\u200b>")
    assert neutralise("---").startswith("\u200b-")
    error = markdown_of(render(Reply(text="没有找到“<b>”", kind="error")))
    assert error == '<font color="warning">没有找到“<\u200bb>”</font>'


def test_long_content_splits_on_lines_within_the_byte_limit() -> None:
    rows = [[f"客户{i:03d}", "流失预警 😀" * 3] for i in range(200)]
    chunks = markdown_chunks(Reply(title="名单", table=Table(["客户", "阶段"], rows)))
    assert len(chunks) > 1
    assert all(len(c.encode()) <= MARKDOWN_MAX_BYTES for c in chunks)
    assert all(c.startswith("**客户") for c in chunks[1:])  # whole lines only
    one_line = "中" * 2000  # 6000 bytes on one line: cut between characters
    chunks = markdown_chunks(Reply(text=one_line))
    assert "".join(chunks) == one_line and all(len(c.encode()) <= 2048 for c in chunks)


def test_chart_becomes_an_image_to_upload() -> None:
    payloads = render(Reply(title="趋势", chart=Chart(PNG, "净销售额按周", "Q4")))
    image = payloads[1]
    assert isinstance(image, OutgoingImage) and image.png == PNG and image.alt == "净销售额按周"
    assert image.payload("MEDIA1") == {"msgtype": "image", "image": {"media_id": "MEDIA1"}}
    assert "📈 净销售额按周" in markdown_of(payloads)


def test_a_reply_is_one_card_whose_buttons_favour_each_items_main_action() -> None:
    """WeCom allows 30 messages per member per minute: a list is one card, not three."""
    (card,) = cards_of(render(tasks(7), task_id="daily-G01"))
    assert card["task_id"] == "daily-G01" and "desc" not in card["main_title"]
    # 14 buttons do not fit in 6: each item keeps its first (Done) button, in order.
    assert [b["text"] for b in card["button_list"]] == [f"{i} 完成" for i in range(1, 7)]
    assert [decode_button_key(b["key"]) for b in card["button_list"]][-1] == "完成 6"
    (card,) = cards_of(render(tasks(3)))  # 6 buttons fit: all of them
    assert [b["text"] for b in card["button_list"]][:2] == ["1 完成", "1 延后"]
    paged = tasks(5)
    paged.actions = [Action("下一页", "任务 2")]
    (card,) = cards_of(render(paged))
    assert [b["text"] for b in card["button_list"]] == [
        *(f"{i} 完成" for i in range(1, 6)),
        "下一页",
    ]
    assert decode_button_key(card["button_list"][-1]["key"]) == "任务 2"
    assert len(cards_of(render(tasks(40)))) == 1
    assert cards_of(render(Reply(items=[Item(1, "no buttons")]))) == []


def test_button_keys_round_trip_and_reject_strangers() -> None:
    key = encode_button_key("打标签 #12 偏好:红色", 3)
    assert re.fullmatch(r"scrm1\.3\.[A-Za-z0-9_\-]+", key)
    assert decode_button_key(key) == "打标签 #12 偏好:红色"
    for bad in [
        "",
        "A",
        "scrm1",
        "scrm2.0.YQ",
        "scrm1.x.YQ",
        "scrm1.0.!!",
        "scrm1.0._w",
        "a.b.c.d",
    ]:
        assert decode_button_key(bad) is None, bad


def test_task_ids_are_valid_whatever_the_seed() -> None:
    assert make_task_id("outbox:42/张三", "-2") == "outbox_42___-2"
    assert len(make_task_id("x" * 500, "-3")) == 128
    assert make_task_id("") == "scrm"


# --- properties --------------------------------------------------------------------------

TRICKY = [
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "中",
    "ａ",
    "*",
    "`",
    "<",
    ">",
    "#",
    "&",
    "]",
    "(",
    "\n",
    "\u200b",
    "é",
]
texts = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(TRICKY), max_size=200).map("".join),
    # Long strings (over a message's 2048 bytes on one line) by repetition: drawing
    # thousands of characters one by one makes every example slow.
    st.tuples(st.text(min_size=1, max_size=60), st.integers(10, 150)).map(lambda t: t[0] * t[1]),
    st.tuples(st.sampled_from(["中", "😀", "a ", "👨‍👩‍👧", "\n"]), st.integers(500, 2500)).map(
        lambda t: t[0] * t[1]
    ),
)
actions = st.builds(Action, texts, texts, st.sampled_from(["default", "primary", "danger"]))
items = st.builds(Item, st.integers(0, 10**6), texts, texts, st.lists(actions, max_size=8))


@st.composite
def tables(draw: st.DrawFn) -> Table:
    width = draw(st.integers(1, 4))
    headers = draw(st.lists(texts, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(texts, min_size=width, max_size=width), max_size=6))
    return Table(headers, rows)


replies = st.builds(
    Reply,
    text=texts,
    title=texts,
    fields=st.lists(st.builds(Field, texts, texts, st.none() | texts), max_size=5),
    table=st.none() | tables(),
    items=st.lists(items, max_size=8),
    footer=texts,
    kind=st.sampled_from(["ok", "usage", "error", "refusal"]),
)


def visible(text: str) -> str:
    """What a reader sees, ignoring layout: no whitespace, controls or neutralisers."""
    return "".join(
        ch
        for ch in unneutralise(text)
        if not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cs")
    )


def pieces(reply: Reply) -> list[str]:
    out = [reply.title, reply.text, reply.footer]
    for f in reply.fields:
        out += [f.label, f.value, f.change or ""]
    if reply.table:
        out += reply.table.headers + [c for row in reply.table.rows for c in row]
    for item in reply.items:
        out += [item.title, item.subtitle]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_any_reply_fits_the_limits_and_loses_no_text(reply: Reply) -> None:
    for fmt, limit in (("markdown", MARKDOWN_MAX_BYTES), ("text", TEXT_MAX_BYTES)):
        payloads = render(reply, fmt=fmt, task_id="prop")  # type: ignore[arg-type]
        bodies = [
            p[fmt]["content"] for p in payloads if isinstance(p, dict) and p["msgtype"] == fmt
        ]
        assert all(0 < len(b.encode("utf-8")) <= limit for b in bodies)
        whole = visible("".join(bodies))
        # Markup may sit between the lines of a multi-line text, never inside a line.
        for piece in pieces(reply):
            for line in re.split(r"\r\n|\r|\n", piece):
                assert visible(line) in whole, (fmt, line[:80])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(items, max_size=12), texts)
def test_cards_respect_wecom_field_limits(card_items: list[Item], seed: str) -> None:
    cards = template_cards(Reply(title=seed, items=card_items), make_task_id(seed))
    assert len(cards) <= 1
    for payload in cards:
        card = payload["template_card"]
        assert re.fullmatch(r"[A-Za-z0-9_\-@]{1,128}", card["task_id"])
        assert len(card["main_title"]["title"]) <= 36
        assert 1 <= len(card["button_list"]) <= 6
        assert len(card["horizontal_content_list"]) <= 6
        keys = [b["key"] for b in card["button_list"]]
        assert len(set(keys)) == len(keys)
        for button in card["button_list"]:
            assert len(button["key"].encode()) <= 1024 and 0 < len(button["text"].strip()) <= 10
            assert decode_button_key(button["key"]) is not None
        for row in card["horizontal_content_list"]:
            assert 0 < len(row["keyname"]) <= 5 and len(row["value"]) <= 30


@given(st.text(), st.integers(0, 99))
def test_any_command_survives_a_button_key(command: str, index: int) -> None:
    assert decode_button_key(encode_button_key(command, index)) == command
