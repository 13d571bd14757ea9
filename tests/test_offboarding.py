"""Offboarding through the CLI, encrypted WeCom callbacks and the fake WeCom's customer
transfer: deactivate, handover (在职继承 and 离职继承), and the manager told the outcome."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from storage.models import AuditLog, Customer, GuideRelation, Staff, Task
from tests.fakes import wecom_transfer as T
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

HOURS = 3600.0


def _store(wx: Harness) -> dict[str, int]:
    wx.api("stores", [{"code": "SH01", "name": "上海店"}])
    staff = [
        ("M01", "周经理", "manager", "zhoujl"),
        ("G01", "王芳", "guide", "wangfang"),
        ("G02", "李娜", "guide", "lina"),
    ]
    wx.api(
        "staff",
        [
            {"code": c, "name": n, "role": r, "store": "SH01", "wecom_userid": u}
            for c, n, r, u in staff
        ],
    )
    rows = [
        {"wecom_external_userid": "wmA", "name": "甲", "guide": "G01"},
        {"wecom_external_userid": "wmB", "name": "乙", "guide": "G01"},
        {"wecom_external_userid": "wmC", "name": "丙", "guide": "G01"},
        {"phone": "13800001111", "name": "丁", "guide": "G01"},
    ]
    wx.api("customers", rows)
    for ext, name in (("wmA", "甲"), ("wmB", "乙"), ("wmC", "丙")):
        wx.fake.add_contact("wangfang", ext, name)
    with wx.db.session() as s:
        return {n: i for i, n in s.execute(select(Customer.id, Customer.name))}


def _guides(wx: Harness) -> dict[str, list[str]]:
    with wx.db.session() as s:
        rows = s.execute(
            select(Customer.name, Staff.code)
            .join(GuideRelation, GuideRelation.customer_id == Customer.id)
            .join(Staff, Staff.id == GuideRelation.staff_id)
            .where(GuideRelation.removed_at.is_(None))
            .order_by(Customer.name, Staff.code)
        ).all()
    out: dict[str, list[str]] = {}
    for name, code in rows:
        out.setdefault(name, []).append(code)
    return out


def test_a_deactivated_guide_is_refused_on_wecom_and_in_the_console(wx: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    _store(wx)
    wx.say("wangfang", "help")
    wx.drain()
    assert "help" in str(wx.fake.sent_to("wangfang")[-1]).lower() or "帮助" in str(
        wx.fake.sent_to("wangfang")[-1]
    )
    code, out = cli("staff", "deactivate", "G01")
    assert code == 0 and "deactivated" in out and "scrm staff handover G01 TO" in out
    wx.say("wangfang", "tasks")  # the worker's dispatcher has G01 cached: refused anyway
    wx.drain()
    assert "已停用" in str(wx.fake.sent_to("wangfang")[-1])
    code, out = cli("chat", "--as", "G01", "--command", "help")
    assert code == 3 and "deactivated" in out
    with wx.db.session() as s:  # history kept
        assert s.scalar(select(Staff.active).where(Staff.code == "G01")) is False
        assert (
            s.scalar(select(AuditLog.channel).where(AuditLog.action == "staff_deactivate")) == "cli"
        )


def test_handover_moves_local_customers_and_transfers_wecom_contacts(wx: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    ids = _store(wx)
    with wx.db.uow() as uow:
        g01 = uow.session.scalar(select(Staff.id).where(Staff.code == "G01"))
        assert g01 is not None
        uow.session.add(
            Task(guide_id=g01, customer_id=ids["丁"], day=date(2026, 11, 20), kind="silent")
        )
        uow.commit()
    code, out = cli("staff", "handover", "G01", "G02")
    assert code == 0, out
    assert "Handed over 1 customer(s) and 1 open task(s)" in out and "3 WeCom contact(s)" in out
    assert _guides(wx)["丁"] == ["G02"]
    with wx.db.session() as s:
        assert s.scalar(select(Task.guide_id).where(Task.customer_id == ids["丁"])) != g01
    wx.worker.run_once()  # transfer_customer
    (call,) = wx.fake.calls_to("externalcontact/transfer_customer")
    assert call.body == {
        "handover_userid": "wangfang",
        "takeover_userid": "lina",
        "external_userid": ["wmA", "wmB", "wmC"],
    }
    wx.worker.run_once()  # transfer_result: all still waiting
    assert len(wx.fake.calls_to("externalcontact/transfer_result")) == 2  # two pages
    assert _guides(wx)["甲"] == ["G01"]
    T.settle(wx.fake, "wmA", 1)
    T.settle(wx.fake, "wmB", 3)
    wx.clock.advance(5 * HOURS)
    wx.worker.run_once()  # wmC still waiting: wmA moves now, the check repeats later
    assert _guides(wx)["甲"] == ["G02"] and _guides(wx)["乙"] == ["G01"]
    assert not [m for m in wx.fake.sent_to("zhoujl")]
    T.settle(wx.fake, "wmC", 1)
    wx.clock.advance(5 * HOURS)
    wx.drain()
    guides = _guides(wx)
    assert guides["甲"] == ["G02"] and guides["丙"] == ["G02"] and guides["乙"] == ["G01"]
    (told,) = wx.fake.sent_to("zhoujl")
    text = told["text"]["content"]
    assert "2 taken over, 1 not" in text and f"{ids['乙']} (refused)" in text
    with wx.db.session() as s:
        results = s.scalar(select(AuditLog.detail).where(AuditLog.action == "wecom_transfer"))
    assert results == {
        "results": {
            str(ids["甲"]): "taken_over",
            str(ids["乙"]): "refused",
            str(ids["丙"]): "taken_over",
        }
    }


def test_a_resigned_guide_goes_through_the_resigned_transfer(wx: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    ids = _store(wx)
    assert cli("staff", "deactivate", "G01")[0] == 0
    wx.fake.members.discard("wangfang")  # left the corp in WeCom too
    code, out = cli("staff", "handover", "G01", "G02", "--customers", f"{ids['甲']},{ids['丁']}")
    assert code == 0, out
    assert "Handed over 1 customer(s)" in out and "1 WeCom contact(s)" in out
    wx.worker.run_once()
    wx.worker.run_once()
    assert wx.fake.calls_to("externalcontact/resigned/transfer_customer")
    assert not wx.fake.calls_to("externalcontact/transfer_customer")
    T.settle(wx.fake, "wmA", 1)
    wx.clock.advance(5 * HOURS)
    wx.drain()
    assert _guides(wx)["甲"] == ["G02"] and _guides(wx)["乙"] == ["G01"]
    assert "1 taken over, 0 not" in wx.fake.sent_to("zhoujl")[-1]["text"]["content"]


def test_handover_refuses_what_it_cannot_do(wx: Harness, cli) -> None:  # type: ignore[no-untyped-def]
    _store(wx)
    assert cli("staff", "handover", "G01", "G01")[0] == 1
    code, out = cli("staff", "handover", "G01", "G02", "--customers", "999")
    assert code == 1 and "does not follow customers [999]" in out
    assert cli("staff", "handover", "G01", "G02", "--customers", "x")[0] == 2
    assert cli("staff", "deactivate", "G02")[0] == 0
    code, out = cli("staff", "handover", "G01", "G02")
    assert code == 1 and "deactivated" in out
