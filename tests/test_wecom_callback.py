"""/wecom/callback end to end: real WeCom encryption in, the fake WeCom API out."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.chat.types import Action, Chart, Item, Reply
from integrations.wecom.events import enqueue_reply
from integrations.wecom.render import decode_button_key
from storage.base import utcnow
from storage.models import Customer, InboxEvent, Staff, Task
from tests.chat_fixtures import build_store
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def test_url_verification_answers_the_echostr_as_plain_text(wx: Harness) -> None:
    crypto = WeChatCrypto(F.TOKEN, F.AES_KEY, F.CORP_ID)
    params, body = F.encrypt("1234567890echo")
    encrypted = body.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    params["echostr"] = encrypted
    response = wx.client.get("/wecom/callback", params=params)
    assert response.status_code == 200
    assert response.text == "1234567890echo"
    assert response.headers["content-type"].startswith("text/plain")
    params["msg_signature"] = "0" * 40
    assert wx.client.get("/wecom/callback", params=params).status_code == 403
    assert crypto  # the same crypto the platform uses produced the request


def _bad_requests() -> list[tuple[str, dict[str, str], bytes]]:
    xml = F.text_xml("wangfang", "help", 42)
    cases = []
    params, body = F.encrypt(xml)
    cases.append(("bad signature", {**params, "msg_signature": "f" * 40}, body.encode()))
    other_key = "B" * 43
    params, body = F.encrypt(xml, aes_key=other_key)
    cases.append(("wrong key", params, body.encode()))
    params, body = F.encrypt(xml, corp_id="wwsomeoneelse")
    cases.append(("wrong corp id", params, body.encode()))
    params, body = F.encrypt(xml, timestamp=int(time.time()) - 301)
    cases.append(("stale timestamp", params, body.encode()))
    params, body = F.encrypt(xml)
    cases.append(("oversized", params, body.encode() + b" " * 70_000))
    params, body = F.encrypt(xml)
    cases.append(("malformed xml", params, body.encode()[:-20]))
    params, body = F.encrypt("<xml><MsgType>text</MsgType><Content>x")
    cases.append(("malformed inner xml", params, body.encode()))
    params, _ = F.encrypt(xml)
    cases.append(("missing body", params, b""))
    cases.append(("no params", {}, body.encode()))
    doctype = b'<!DOCTYPE x [<!ENTITY a "aaaa">]>' + body.encode()
    cases.append(("dtd", params, doctype))
    cases.append(("not utf-8", params, b"\xff\xfe" + body.encode()))
    return cases


@pytest.mark.parametrize(
    ("name", "params", "body"), _bad_requests(), ids=[c[0] for c in _bad_requests()]
)
def test_bad_callbacks_get_4xx_and_change_nothing(
    wx: Harness, name: str, params: dict[str, str], body: bytes
) -> None:
    response = wx.client.post("/wecom/callback", params=params, content=body)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert wx.inbox_count() == 0
    assert wx.outbox() == []


def test_a_retried_delivery_is_recorded_once(wx: Harness) -> None:
    build_store(wx.api)
    xml = F.text_xml("wangfang", "帮助", 7001)
    for _ in range(3):  # WeCom retries up to three times when it thinks we were slow
        assert wx.post(xml, nonce=f"n{_}").status_code == 200
    assert wx.inbox_count() == 1
    assert len(wx.outbox(kind="inbound")) == 1
    wx.drain()
    assert len(wx.fake.sent_to("wangfang")) >= 1
    first = len(wx.fake.delivered)
    wx.post(xml, nonce="late")
    wx.drain()
    assert len(wx.fake.delivered) == first


def test_contact_events_from_sys_in_the_same_second_are_not_collapsed(wx: Harness) -> None:
    now = int(time.time())
    a = F.contact_xml("del_external_contact", "wangfang", "wmA", created=now)
    b = F.contact_xml("del_external_contact", "wangfang", "wmB", created=now)
    wx.post(a)
    wx.post(b)
    wx.post(a)
    with wx.db.session() as s:
        keys = list(s.scalars(select(InboxEvent.event_key)))
    assert len(keys) == 2 and all(k.startswith("xml:") for k in keys)


def test_the_callback_answers_well_within_a_second(wx: Harness) -> None:
    build_store(wx.api)
    timings = []
    for i in range(40):
        params, body = F.encrypt(F.text_xml("wangfang", "帮助", 9000 + i))
        start = time.perf_counter()
        response = wx.client.post("/wecom/callback", params=params, content=body.encode())
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200 and response.text == ""
    assert max(timings) < 1.0
    # Nothing was sent during the callbacks: the outbox pump does that afterwards.
    assert wx.fake.delivered == []


def test_a_command_is_answered_through_message_send(wx: Harness) -> None:
    build_store(wx.api)
    wx.say("wangfang", "查 张三")
    wx.drain()
    (message,) = wx.fake.sent_to("wangfang")
    assert message["msgtype"] == "markdown"
    assert message["agentid"] == F.AGENT_ID
    assert message["enable_duplicate_check"] == 1
    assert 1800 <= message["duplicate_check_interval"] < 4 * 3600
    assert "张三" in message["markdown"]["content"]
    assert "5678" in message["markdown"]["content"] and "13812345678" not in str(message)


def test_an_unknown_user_gets_a_clear_refusal(wx: Harness) -> None:
    build_store(wx.api)
    wx.fake.members.add("stranger")
    wx.say("stranger", "help")
    wx.drain()
    (message,) = wx.fake.sent_to("stranger")
    assert "scrm staff add" in str(message)


def test_long_replies_are_split_at_the_byte_limit(wx: Harness) -> None:
    build_store(wx.api)
    wx.fake.members.add("wangfang")
    reply = Reply(title="很长", text="\n".join(f"第 {i} 行：" + "数据" * 30 for i in range(80)))
    with wx.db.uow() as uow:
        enqueue_reply(uow.session, "wangfang", reply, "test:long")
        uow.commit()
    wx.drain()
    sent = wx.fake.sent_to("wangfang")
    assert len(sent) > 3
    assert all(len(m["markdown"]["content"].encode()) <= 2048 for m in sent)
    text = "\n".join(m["markdown"]["content"] for m in sent)
    assert "第 0 行" in text and "第 79 行" in text


def test_a_chart_is_uploaded_and_sent_as_an_image(wx: Harness) -> None:
    wx.fake.members.add("wangfang")
    reply = Reply(title="销售", chart=Chart(PNG, "sales by day"))
    with wx.db.uow() as uow:
        enqueue_reply(uow.session, "wangfang", reply, "test:chart")
        uow.commit()
    wx.drain()
    assert len(wx.fake.calls_to("media/upload")) == 1
    upload = wx.fake.calls_to("media/upload")[0]
    assert upload.params["type"] == "image"
    kinds = [m["msgtype"] for m in wx.fake.sent_to("wangfang")]
    assert kinds == ["markdown", "image"]
    image = wx.fake.sent_to("wangfang")[1]
    assert image["image"]["media_id"] in wx.fake.media


def _tasks_for_wangfang(wx: Harness) -> None:
    build_store(wx.api)
    with wx.db.uow() as uow:
        s = uow.session
        guide = s.scalar(select(Staff).where(Staff.code == "G01"))
        assert guide is not None
        # The product's today is the store's local day, not the machine's (the CI failure
        # between 16:00 and 24:00 UTC, when Shanghai is already a day ahead).
        today = utcnow().astimezone(wx.client.app.state.settings.tz).date()  # type: ignore[attr-defined]
        for rank, name in enumerate(["张三", "张珊"], start=1):
            cid = s.scalar(select(Customer.id).where(Customer.name == name))
            assert cid is not None
            s.add(
                Task(
                    guide_id=guide.id,
                    customer_id=cid,
                    day=today,
                    kind="churn_risk",
                    rank=rank,
                    suggested_message="好久不见",
                )
            )
        uow.commit()


def test_the_task_list_is_a_card_whose_buttons_run_commands(wx: Harness) -> None:
    _tasks_for_wangfang(wx)
    wx.say("wangfang", "任务")
    wx.drain()
    sent = wx.fake.sent_to("wangfang")
    cards = [m for m in sent if m["msgtype"] == "template_card"]
    assert len(cards) == 1
    card = cards[0]["template_card"]
    assert card["card_type"] == "button_interaction"
    assert card["task_id"].startswith("wecom-out_")
    commands = [decode_button_key(b["key"]) for b in card["button_list"]]
    with wx.db.session() as s:
        ids = dict(s.execute(select(Task.rank, Task.id)).all())
    assert f"完成 #{ids[1]}" in commands and f"延后 #{ids[2]} 3" in commands  # ids, not ranks
    response_code = cards[0]["_response"]["response_code"]

    done_key = card["button_list"][commands.index(f"完成 #{ids[1]}")]["key"]
    click = F.event_xml(
        "template_card_event",
        {
            "EventKey": done_key,
            "TaskId": card["task_id"],
            "CardType": "button_interaction",
            "ResponseCode": response_code,
            "AgentID": str(F.AGENT_ID),
        },
        user="wangfang",
    )
    wx.post(click)
    wx.post(click, nonce="retry")  # a retried click does nothing more
    wx.drain()
    with wx.db.session() as s:
        statuses = dict(s.execute(select(Task.rank, Task.status)).all())
    assert statuses == {1: "done", 2: "open"}
    assert wx.fake.card_updates == [
        {
            "userids": ["wangfang"],
            "agentid": F.AGENT_ID,
            "response_code": response_code,
            "button": {"replace_name": "✓ 已处理"},
        }
    ]
    assert len(wx.fake.sent_to("wangfang")) == len(sent) + 1  # the confirmation


def test_a_foreign_button_key_is_ignored(wx: Harness) -> None:
    build_store(wx.api)
    wx.post(F.event_xml("template_card_event", {"EventKey": "not-ours"}, user="wangfang"))
    wx.drain()
    assert wx.fake.delivered == [] and wx.fake.card_updates == []


def test_reply_items_without_actions_make_no_card(wx: Harness) -> None:
    wx.fake.members.add("wangfang")
    reply = Reply(items=[Item(1, "a"), Item(2, "b", actions=[Action("Go", "help")])])
    with wx.db.uow() as uow:
        enqueue_reply(uow.session, "wangfang", reply, "test:items")
        uow.commit()
    wx.drain()
    kinds = [m["msgtype"] for m in wx.fake.sent_to("wangfang")]
    assert kinds == ["markdown", "template_card"]


def test_a_scheduled_reply_push_is_rendered_and_sent_once(wx: Harness) -> None:
    from bot.scheduler.pushes import push_reply
    from storage.base import utcnow

    reply = Reply(
        title="今日任务",
        items=[Item(1, "张三", actions=[Action("完成", "完成 1")])],
        chart=Chart(PNG, "trend"),
    )
    with wx.db.uow() as uow:
        push_reply(
            uow.session,
            settings=wx.client.app.state.settings,  # type: ignore[attr-defined]
            channel="wecom",
            target="wangfang",
            reply=reply,
            key="tasks:G01:2026-01-01",
            now=utcnow(),
            respect_quiet_hours=False,
        )
        uow.commit()
    # The card fails the first time: the retry resumes at the card, the two messages
    # already delivered are not sent again.
    wx.fake.faults = F.Faults(rate=1.0, codes=(-1,), drops=False, paths={"message/send"})
    wx.fake.faults.rng.random = lambda: 0.0 if len(wx.fake.calls_to("message/send")) == 3 else 1.0  # type: ignore[method-assign]
    wx.drain()
    kinds = [m["msgtype"] for m in wx.fake.sent_to("wangfang")]
    assert kinds == ["markdown", "image", "template_card"]
    assert wx.fake.duplicates == 0 and len(wx.fake.calls_to("media/upload")) == 1
    assert len(wx.fake.calls_to("message/send")) == 4
    (row,) = wx.outbox(idempotency_key="tasks:G01:2026-01-01")
    assert row.status == "sent" and row.parts_sent == 3 and row.attempts == 2
    assert wx.client.app.state.hooks["wecom_reconcile"](wx.db, wx.client.app.state.settings)  # type: ignore[attr-defined]
