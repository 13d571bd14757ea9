"""Customer-contact sync and change events, and the loss alerts they raise."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from storage.base import utcnow
from storage.models import (
    AuditLog,
    Customer,
    CustomerIdentity,
    CustomerStats,
    GuideRelation,
    Interaction,
    ManagerStore,
    Staff,
    Store,
)
from tests.chat_fixtures import build_store
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401


def _relations(wx: Harness) -> dict[str, tuple[str | None, str | None]]:
    """external_userid -> (remark, removed_by) for wangfang's relations."""
    with wx.db.session() as s:
        rows = s.execute(
            select(CustomerIdentity.value, GuideRelation.remark, GuideRelation.removed_by)
            .join(GuideRelation, GuideRelation.customer_id == CustomerIdentity.customer_id)
            .join(Staff, Staff.id == GuideRelation.staff_id)
            .where(
                CustomerIdentity.kind == "wecom_external_userid", Staff.wecom_userid == "wangfang"
            )
        ).all()
    return {ext: (remark, by) for ext, remark, by in rows}


def _sync(wx: Harness, database_url: str) -> str:
    env = {
        "SCRM_DATABASE_URL": database_url,
        "SCRM_WECOM_CORP_ID": F.CORP_ID,
        "SCRM_WECOM_AGENT_ID": str(F.AGENT_ID),
        "SCRM_WECOM_SECRET": F.APP_SECRET,
        "SCRM_WECOM_CONTACT_SECRET": F.CONTACT_SECRET,
        "SCRM_WECOM_TOKEN": F.TOKEN,
        "SCRM_WECOM_AES_KEY": F.AES_KEY,
        "SCRM_WECOM_API_BASE": wx.fake.base,
    }
    result = CliRunner().invoke(cli_app, ["wecom", "sync"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_full_sync_pages_through_every_follow_user(wx: Harness, database_url: str) -> None:
    build_store(wx.api)
    groups = wx.fake.add_group("客户等级", ["金卡", "银卡"])
    for i in range(230):
        wx.fake.add_contact(
            "wangfang",
            f"wmW{i:04d}",
            f"客户{i}",
            unionid=f"oU{i:04d}",
            remark=f"备注{i}",
            tags=[groups["金卡"]] if i % 2 else [],
        )
    wx.fake.add_contact("zhoujl", "wmW0001", "客户1", remark="经理也加了")
    wx.fake.add_contact("outsider", "wmX0001", "外人")  # follow user not registered as staff
    out = _sync(wx, database_url)
    assert "3 follow users, 232 contacts" in out
    pages = wx.fake.calls_to("externalcontact/batch/get_by_user")
    assert [c.body["limit"] for c in pages] == [100, 100, 100]  # type: ignore[index]
    assert pages[0].body["userid_list"] == ["wangfang", "zhoujl", "outsider"]  # type: ignore[index]
    assert [bool(c.body["cursor"]) for c in pages] == [False, True, True]  # type: ignore[index]
    assert all(c.params["access_token"] for c in pages)
    tokens = wx.fake.calls_to("gettoken")
    assert {t.params["corpsecret"] for t in tokens} == {F.CONTACT_SECRET}
    rel = _relations(wx)
    assert len(rel) == 230 and rel["wmW0007"] == ("备注7", None)
    with wx.db.session() as s:
        c7 = s.scalar(
            select(Customer)
            .join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
            .where(CustomerIdentity.value == "oU0007")
        )
        assert c7 is not None and c7.name == "客户7" and c7.guide_id is not None
        kinds = dict(
            s.execute(
                select(CustomerIdentity.kind, func.count())
                .where(CustomerIdentity.value.like("wm%") | CustomerIdentity.value.like("oU%"))
                .group_by(CustomerIdentity.kind)
            ).all()
        )
        assert kinds == {"wecom_external_userid": 232, "unionid": 230}
    _sync(wx, database_url)  # a second sync changes nothing
    assert len(_relations(wx)) == 230


def test_add_and_edit_events_read_the_contact(wx: Harness) -> None:
    build_store(wx.api)
    wx.fake.add_contact("wangfang", "wmNEW1", "赵六", unionid="oUZ6", remark="新客")
    wx.post(F.contact_xml("add_external_contact", "wangfang", "wmNEW1", State="store-qr"))
    wx.drain()
    assert _relations(wx) == {"wmNEW1": ("新客", None)}
    (get,) = wx.fake.calls_to("externalcontact/get")
    assert get.params["external_userid"] == "wmNEW1"
    wx.fake.follows["wangfang"]["wmNEW1"]["remark"] = "赵六-VIP"  # edited on the phone
    wx.post(F.contact_xml("edit_external_contact", "wangfang", "wmNEW1"))
    wx.drain()
    assert _relations(wx) == {"wmNEW1": ("赵六-VIP", None)}


def _guide_with_customer(wx: Harness) -> int:
    build_store(wx.api)
    wx.fake.add_contact(
        "wangfang", "wmLOSS", "钱七", remark="钱七", createtime=int(time.time()) - 40 * 86400
    )
    wx.post(F.contact_xml("add_external_contact", "wangfang", "wmLOSS"))
    wx.drain()
    with wx.db.uow() as uow:
        s = uow.session
        cid = s.scalar(
            select(CustomerIdentity.customer_id).where(CustomerIdentity.value == "wmLOSS")
        )
        assert cid is not None
        s.add(Interaction(customer_id=cid, kind="note", channel="wecom", body="喜欢红色"))
        uow.commit()
    wx.api(
        "orders",
        [
            {
                "order_no": "LOSS1",
                "wecom_external_userid": "wmLOSS",
                "ordered_at": "2026-01-02 10:00",
                "paid_cents": 88800,
            }
        ],
    )
    wx.fake.delivered.clear()
    return cid


def test_a_customer_deleting_the_guide_marks_deleted_and_alerts(wx: Harness) -> None:
    cid = _guide_with_customer(wx)
    wx.fake.remove_follow("wangfang", "wmLOSS")
    wx.post(F.contact_xml("del_follow_user", "wangfang", "wmLOSS"))
    wx.drain()
    with wx.db.session() as s:
        stats = s.get(CustomerStats, cid)
        assert stats is not None and stats.stage == "deleted"
        rel = s.scalar(select(GuideRelation).where(GuideRelation.customer_id == cid))
        assert rel is not None and rel.removed_by == "customer" and rel.removed_at is not None
        assert (
            s.scalar(
                select(AuditLog.action)
                .where(AuditLog.customer_id == cid)
                .order_by(AuditLog.id.desc())
            )
            == "contact.deleted_by_customer"
        )
    (to_guide,) = wx.fake.sent_to("wangfang")
    (to_manager,) = wx.fake.sent_to("zhoujl")
    text = to_guide["text"]["content"]
    assert "钱七" in text and "删除了你" in text
    assert "40 天" in text and "note" in text and "¥888.00" in text and "1 单" in text
    assert "王芳" in to_manager["text"]["content"]


def test_the_manager_of_an_extra_store_hears_too(wx: Harness) -> None:
    _guide_with_customer(wx)
    with wx.db.uow() as uow:
        s = uow.session
        bj = s.scalar(select(Store).where(Store.code == "BJ01"))
        sh = s.scalar(select(Store).where(Store.code == "SH01"))
        assert bj is not None and sh is not None
        s.add(
            Staff(code="M09", name="区域经理", role="manager", store_id=bj.id, wecom_userid="area")
        )
        s.flush()
        m09 = s.scalar(select(Staff.id).where(Staff.code == "M09"))
        s.add(ManagerStore(staff_id=m09, store_id=sh.id))
        uow.commit()
    wx.fake.members.add("area")
    wx.post(F.contact_xml("del_follow_user", "wangfang", "wmLOSS"))
    wx.drain()
    assert len(wx.fake.sent_to("area")) == 1


def test_alerts_wait_for_the_end_of_quiet_hours(wx: Harness) -> None:
    _guide_with_customer(wx)
    local = utcnow().astimezone(wx.client.app.state.settings.tz)  # type: ignore[attr-defined]
    settings = wx.client.app.state.settings  # type: ignore[attr-defined]
    settings.quiet_start = f"{(local.hour - 1) % 24:02d}:00"
    settings.quiet_end = f"{(local.hour + 2) % 24:02d}:00"
    wx.post(F.contact_xml("del_follow_user", "wangfang", "wmLOSS"))
    wx.worker.drain()
    assert wx.fake.sent_to("wangfang") == []
    (row, *_) = wx.outbox(kind="text")
    assert row.status == "pending" and row.next_attempt_at > utcnow()


@pytest.mark.parametrize("straddle", [False, True], ids=["now", "across-an-hour-edge"])
def test_a_guide_deleting_many_customers_alerts_the_manager_once(
    wx: Harness, straddle: bool
) -> None:
    build_store(wx.api)
    for i in range(8):
        wx.fake.add_contact("wangfang", f"wmBULK{i}", f"批量{i}")
    _sync_via_events(wx, [f"wmBULK{i}" for i in range(8)])
    now = int(time.time())
    if straddle:  # the 5th deletion (the alert) 1 s before a full hour, the 6th on it
        now = now // 3600 * 3600 - 5
    for i in range(7):
        wx.post(F.contact_xml("del_external_contact", "wangfang", f"wmBULK{i}", created=now + i))
    wx.post(
        F.contact_xml(
            "del_external_contact", "wangfang", "wmBULK7", created=now, Source="DELETE_BY_TRANSFER"
        )
    )
    wx.drain()
    (alert,) = wx.fake.sent_to("zhoujl")
    assert "王芳" in alert["text"]["content"] and "5 位客户" in alert["text"]["content"]
    assert wx.fake.sent_to("wangfang") == []
    rel = _relations(wx)
    assert rel["wmBULK0"][1] == "guide" and rel["wmBULK7"][1] == "transfer"


def _sync_via_events(wx: Harness, exts: list[str]) -> None:
    for ext in exts:
        wx.post(F.contact_xml("add_external_contact", "wangfang", ext))
    wx.drain()
    wx.fake.delivered.clear()


def test_a_failed_transfer_is_reported_to_the_manager(wx: Harness) -> None:
    build_store(wx.api)
    wx.post(F.contact_xml("transfer_fail", "wangfang", "wmT1", FailReason="customer_refused"))
    wx.drain()
    (alert,) = wx.fake.sent_to("zhoujl")
    assert "客户拒绝" in alert["text"]["content"]


def test_re_adding_a_guide_lifts_the_deleted_stage(wx: Harness) -> None:
    cid = _guide_with_customer(wx)
    wx.post(F.contact_xml("del_follow_user", "wangfang", "wmLOSS"))
    wx.drain()
    wx.post(F.contact_xml("add_external_contact", "wangfang", "wmLOSS", State="again"))
    wx.drain()
    with wx.db.session() as s:
        stats = s.get(CustomerStats, cid)
        assert stats is not None and stats.stage != "deleted" and stats.dirty
    assert _relations(wx)["wmLOSS"][1] is None
