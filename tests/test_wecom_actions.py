"""Card clicks through the real WeCom path (encrypted callbacks in, the fake WeCom API out):
each button acts on the task or customer it was drawn for, and a reply stays within WeCom's
30 messages per member per minute."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import func, select

from bot.lifecycle.messages import Facts, suggest
from integrations.wecom.render import decode_button_key
from storage.base import utcnow
from storage.models import Customer, Interaction, Staff, Task
from tests.chat_fixtures import build_store
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

_CLICKS = itertools.count(1)


def today(wx: Harness) -> Any:
    settings = wx.client.app.state.settings  # type: ignore[attr-defined]
    return utcnow().astimezone(settings.tz).date()  # the store's local day, as the product's


def add_tasks(wx: Harness, names: list[str]) -> dict[str, int]:
    with wx.db.uow() as uow:
        s = uow.session
        guide = s.scalar(select(Staff.id).where(Staff.code == "G01"))
        tasks = {}
        for rank, name in enumerate(names, start=1):
            cid = s.scalar(select(Customer.id).where(Customer.name == name))
            message = suggest("churn_risk", Facts(name, "王芳", "羊毛大衣", "喜欢红色", 90), "zh")
            tasks[name] = Task(guide_id=guide, customer_id=cid, day=today(wx), kind="churn_risk",
                               rank=rank, value_at_risk_cents=123_456, suggested_message=message)  # fmt: skip
        s.add_all(tasks.values())
        uow.commit()
        return {name: t.id for name, t in tasks.items()}


def statuses(wx: Harness) -> dict[str, str]:
    with wx.db.session() as s:
        rows = s.execute(
            select(Customer.name, Task.status).join(Task, Task.customer_id == Customer.id)
        )
        return {str(n): str(st) for n, st in rows}


def last_card(wx: Harness) -> dict[str, Any]:
    cards = [m for m in wx.fake.sent_to("wangfang") if m["msgtype"] == "template_card"]
    return cards[-1]["template_card"]  # type: ignore[no-any-return]


def button(card: dict[str, Any], starts: str) -> dict[str, Any]:
    return next(
        b for b in card["button_list"] if (decode_button_key(b["key"]) or "").startswith(starts)
    )


def click(wx: Harness, card: dict[str, Any], key: str) -> None:
    """A tap as WeCom sends it: each tap is its own event (its own CreateTime and code)."""
    n = next(_CLICKS)
    xml = F.event_xml(
        "template_card_event",
        {"EventKey": key, "TaskId": card["task_id"], "CardType": "button_interaction",
         "ResponseCode": f"code-{n}", "AgentID": str(F.AGENT_ID)},
        user="wangfang",
        created=int(utcnow().timestamp()) + n,
    )  # fmt: skip
    assert wx.post(xml).status_code == 200
    wx.drain()


def last_text(wx: Harness) -> str:
    sent = [m for m in wx.fake.sent_to("wangfang") if m["msgtype"] == "markdown"]
    return str(sent[-1]["markdown"]["content"])


def test_the_profile_done_button_completes_that_customer_not_task_1(wx: Harness) -> None:
    build_store(wx.api)
    add_tasks(wx, ["张三", "张珊"])  # 张珊 is number 2 in 王芳's list
    wx.say("wangfang", "查 张珊")
    wx.drain()
    card = last_card(wx)
    done = button(card, "完成")
    click(wx, card, done["key"])
    assert statuses(wx) == {"张三": "open", "张珊": "done"}  # not 张三, number 1 today
    assert "张珊 · 任务完成 ✓" in last_text(wx)
    # The same button tapped again answers what happened and changes nothing.
    click(wx, card, done["key"])
    assert "张珊 的任务已于" in last_text(wx) and "完成，没有再改动" in last_text(wx)
    assert statuses(wx) == {"张三": "open", "张珊": "done"}
    with wx.db.session() as s:
        assert s.scalar(select(func.count()).where(Interaction.kind == "task")) == 1


def test_a_task_card_button_still_means_its_task_after_the_list_changes(wx: Harness) -> None:
    build_store(wx.api)
    ids = add_tasks(wx, ["张三", "张珊"])
    wx.say("wangfang", "任务")
    wx.drain()
    card = last_card(wx)
    done_zhang_san = button(card, f"完成 #{ids['张三']}")
    with wx.db.uow() as uow:  # the list is renumbered (as a carry-over would): 张珊 first
        for task in uow.session.scalars(select(Task)):
            task.rank = 3 - task.rank
        uow.commit()
    click(wx, card, done_zhang_san["key"])
    assert statuses(wx) == {"张三": "done", "张珊": "open"}
    assert "张三 · 任务完成 ✓" in last_text(wx)


def test_the_task_list_takes_two_messages_and_pages_by_button(wx: Harness) -> None:
    build_store(wx.api)
    names = [f"客户{i:02d}" for i in range(20)]
    wx.api("customers", [{"name": n, "phone": f"1350000{i:04d}", "store": "SH01", "guide": "G01"}
                         for i, n in enumerate(names)])  # fmt: skip
    add_tasks(wx, names)
    wx.say("wangfang", "任务")
    wx.drain()
    first = wx.fake.sent_to("wangfang")
    # WeCom allows 30 messages per member per minute: one markdown page and one card.
    assert [m["msgtype"] for m in first] == ["markdown", "template_card"]
    page = first[0]["markdown"]["content"]
    assert "客户00" in page and "客户04" in page and "客户05" not in page and "第 1/4 页" in page
    card = first[1]["template_card"]
    assert len(card["button_list"]) == 6
    click(wx, card, button(card, "任务 2")["key"])  # "下一页"
    second = wx.fake.sent_to("wangfang")[len(first) :]
    assert [m["msgtype"] for m in second] == ["markdown", "template_card"]
    assert (
        "客户05" in second[0]["markdown"]["content"]
        and "第 2/4 页" in second[0]["markdown"]["content"]
    )


def test_a_stale_pick_list_card_acts_on_its_own_customer(wx: Harness) -> None:
    build_store(wx.api)
    wx.say("wangfang", "跟进 zs 约了周六")
    wx.drain()
    old = last_card(wx)
    wx.api("customers", [{"name": "刘洋", "phone": f"1350000000{i}", "store": "SH01", "guide": "G01"}
                         for i in (1, 2)])  # fmt: skip
    wx.say("wangfang", "跟进 刘洋 已回电")  # a newer list: its number 2 is a 刘洋
    wx.drain()
    click(wx, old, old["button_list"][1]["key"])  # the old card's "2": 张珊
    with wx.db.session() as s:
        noted = s.execute(
            select(Customer.name, Interaction.body).join(
                Customer, Customer.id == Interaction.customer_id
            )
        ).all()
    assert [tuple(r) for r in noted] == [("张珊", "约了周六")]
    click(wx, old, old["button_list"][0]["key"])  # the same list again: nothing runs
    assert "这个列表已经选过 张珊" in last_text(wx)
    with wx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 1


def test_a_command_stuck_to_its_argument(wx: Harness) -> None:
    build_store(wx.api)
    add_tasks(wx, ["张三", "张珊"])
    wx.say("wangfang", "查张三")
    wx.drain()
    assert "∗∗∗∗5678" in last_text(wx)
    wx.say("wangfang", "完成2")
    wx.drain()
    assert "张珊 · 任务完成 ✓" in last_text(wx)
