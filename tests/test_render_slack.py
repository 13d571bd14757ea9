"""Slack rendering: snapshots of representative replies, and Block Kit's limits for any reply."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.chat.types import Action, Chart, Field, Item, Reply, Table
from integrations.slack.render import (
    blocks,
    change_text,
    chart_alt,
    fallback_text,
    table_sections,
)
from tests.snapshots import check_snapshot


def help_reply() -> Reply:
    return Reply(
        title="你可以这样问我",
        table=Table(
            ["命令", "说明"],
            [
                ["帮助", "列出命令，或说明某个命令。"],
                ["搜", "找客户：按姓名、手机号、手机后四位、拼音、首字母、备注或编号。"],
                ["查", "查客户：联系方式、导购、标签、阶段、RFM、消费、跟进和任务。"],
                ["打标签", "给客户加标签。"],
            ],
        ),
        footer="“帮助 命令”看用法；中英文命令都可以。",
    )


def profile_reply() -> Reply:
    return Reply(
        title="张三（张三-老客）",
        fields=[
            Field("手机", "138****5678"),
            Field("导购", "王芳"),
            Field("门店", "上海南京西路店"),
            Field("阶段", "流失预警 — last order 94 days ago; usually every 31 days"),
            Field("消费", "¥1,299.00（1 单，退款 ¥0.00）", "+12.5%"),
            Field("退款", "¥0.00", "-100%"),
            Field("标签", "偏好: 红色 & <羊毛>"),
        ],
        items=[
            Item(
                1,
                "任务 2026-11-22 · churn_risk",
                "张姐好久不见，新到的羊毛大衣给您留了一件",
                [Action("完成", "完成 1", "primary"), Action("跳过", "跳过 1", "danger")],
            )
        ],
        footer="建议：先完成今天的任务",
    )


def candidates_reply() -> Reply:
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


def long_table_reply() -> Reply:
    rows = [
        [f"S{i:03d}", f"门店 {i}", f"¥{i * 1234:,}.00", f"{i % 7}.{i % 10}%"] for i in range(1, 121)
    ]
    return Reply(title="Sales by store", table=Table(["code", "store", "net sales", "ROI"], rows))


def test_help_table_snapshot() -> None:
    out = blocks(help_reply())
    assert out[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "你可以这样问我", "emoji": True},
    }
    assert out[1]["text"]["text"].startswith("```\n命令    说明\n帮助    列出命令")
    assert out[-1]["type"] == "context"
    check_snapshot("slack_help", out)


def test_profile_fields_snapshot() -> None:
    out = blocks(profile_reply())
    fields = out[1]["fields"]
    assert fields[4]["text"] == "*消费*  ▲ +12.5%\n¥1,299.00（1 单，退款 ¥0.00）"
    assert fields[5]["text"] == "*退款*  ▼ -100%\n¥0.00"
    assert fields[6]["text"] == "*标签*\n偏好: 红色 &amp; &lt;羊毛&gt;"
    actions = out[3]["elements"]
    assert [(a["value"], a.get("style")) for a in actions] == [
        ("完成 1", "primary"),
        ("跳过 1", "danger"),
    ]
    check_snapshot("slack_profile", out)


def test_candidates_snapshot() -> None:
    out = blocks(candidates_reply())
    assert [b["type"] for b in out] == ["header", "section", "actions", "section", "actions"]
    assert out[1]["text"]["text"] == "*1.* 张三  138****5678\n消费 ¥1,299.00 · 最近 2026-10-01"
    assert out[4]["elements"][0]["value"] == "查 #2"
    assert "style" not in out[4]["elements"][0]
    check_snapshot("slack_candidates", out)


def test_long_table_splits_and_repeats_its_header() -> None:
    out = table_sections(long_table_reply().table)  # type: ignore[arg-type]
    assert len(out) > 1
    for block in out:
        text = block["text"]["text"]
        assert len(text) <= 3000 and text.startswith("```\ncode") and text.endswith("\n```")
    body = [line for b in out for line in b["text"]["text"].split("\n")[2:-1]]
    assert len(body) == 120 and body[0].startswith("S001") and body[-1].startswith("S120")
    check_snapshot("slack_long_table", blocks(long_table_reply()))


def test_kpi_change_arrows() -> None:
    assert change_text("+12.5%") == "▲ +12.5%"
    assert change_text("-3%") == "▼ -3%"
    assert change_text("−3%") == "▼ −3%"
    assert change_text("+0%") == "+0%"
    assert change_text("n/a") == "n/a"


def test_fallback_text_and_chart_alt() -> None:
    reply = Reply(title="双11", text="a < b", chart=Chart(b"png", "net sales by week", "Q4"))
    assert fallback_text(reply) == "双11\na &lt; b\n[chart: net sales by week]"
    assert chart_alt(reply) == "Q4: net sales by week"
    assert chart_alt(Reply()) is None
    assert fallback_text(Reply()) == "…"
    assert "chart" not in json.dumps(blocks(reply))  # the uploader attaches it


def test_errors_are_marked() -> None:
    out = blocks(Reply(text="没有找到“王五”", kind="error"))
    assert out == [{"type": "section", "text": {"type": "mrkdwn", "text": "⚠️ 没有找到“王五”"}}]


def test_too_many_blocks_end_with_a_more_note() -> None:
    reply = Reply(
        title="今天的任务",
        items=[Item(i, f"客户{i}", "", [Action("完成", f"完成 {i}")]) for i in range(1, 41)],
    )
    out = blocks(reply)
    assert len(out) == 50
    assert out[-2]["type"] == "actions"  # never an item cut from its buttons
    assert out[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "… 还有 16 项未显示"}],
    }


# --- property ----------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=30),
    st.tuples(st.text(min_size=1, max_size=60), st.integers(10, 120)).map(lambda t: t[0] * t[1]),
    st.sampled_from(["&", "<>", "```", "*", "\n", " "]).map(lambda s: s * 1600),
)
actions = st.builds(Action, texts, texts, st.sampled_from(["default", "primary", "danger"]))
items = st.builds(Item, st.integers(0, 5), texts, texts, st.lists(actions, max_size=30))


@st.composite
def tables(draw: st.DrawFn) -> Table:
    width = draw(st.integers(1, 4))
    headers = draw(st.lists(texts, min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(texts, min_size=width, max_size=width), max_size=8))
    return Table(headers, rows)


replies = st.builds(
    Reply,
    text=texts,
    title=texts,
    fields=st.lists(st.builds(Field, texts, texts, st.none() | texts), max_size=25),
    table=st.none() | tables(),
    items=st.lists(items, max_size=30),
    footer=texts,
    kind=st.sampled_from(["ok", "usage", "error", "refusal"]),
)


def text_of(obj: dict[str, Any]) -> str:
    text: str = obj["text"]
    assert text.strip(), "Slack refuses empty text"
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies)
def test_blocks_respect_block_kit_limits(reply: Reply) -> None:
    out = blocks(reply)
    json.dumps(out)
    assert len(out) <= 50
    action_ids: list[str] = []
    for block in out:
        kind = block["type"]
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and len(text_of(block["text"])) <= 150
        elif kind == "section" and "fields" in block:
            assert 1 <= len(block["fields"]) <= 10
            assert all(len(text_of(f)) <= 2000 for f in block["fields"])
        elif kind == "section":
            assert len(text_of(block["text"])) <= 3000
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(text_of(button["text"])) <= 75
                assert len(button["value"]) <= 2000 and len(button["action_id"]) <= 255
                assert button.get("style", "primary") in ("primary", "danger")
                action_ids.append(button["action_id"])
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10
            assert all(len(text_of(e)) <= 3000 for e in block["elements"])
        else:
            raise AssertionError(f"unexpected block {kind}")
    assert len(action_ids) == len(set(action_ids))
    assert 0 < len(fallback_text(reply)) <= 3000
