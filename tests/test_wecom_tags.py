"""Tags both ways: chat -> mark_tag, phone edits and tag events -> the store, reconcile."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import time

from sqlalchemy import select

from integrations.wecom.tags import reconcile
from storage.models import CustomerIdentity, CustomerTag, Tag, TagGroup
from tests.chat_fixtures import add_tag_groups, build_store
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401


def _contact(
    wx: Harness, ext: str = "wmZL01", name: str = "赵六", tags: list[str] | None = None
) -> int:
    wx.fake.add_contact("wangfang", ext, name, tags=tags)
    wx.post(F.contact_xml("add_external_contact", "wangfang", ext))
    wx.drain()
    with wx.db.session() as s:
        cid = s.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.value == ext))
    assert cid is not None
    return cid


def _local_tags(wx: Harness, cid: int) -> set[str]:
    with wx.db.session() as s:
        return set(
            s.scalars(
                select(Tag.name)
                .join(CustomerTag, CustomerTag.tag_id == Tag.id)
                .where(CustomerTag.customer_id == cid)
            )
        )


def test_a_tag_set_in_chat_reaches_wecom(wx: Harness) -> None:
    build_store(wx.api)
    add_tag_groups(wx.db)
    groups = wx.fake.add_group("偏好", ["红色"])
    wx.post(
        F.event_xml(
            "change_external_tag",
            {"Id": groups[""], "TagType": "tag_group", "ChangeType": "create"},
        )
    )
    cid = _contact(wx)
    wx.say("wangfang", "打标签 赵六 偏好:红色 偏好:蓝色")
    wx.drain()
    # 蓝色 did not exist in WeCom: created in the linked group, then marked with 红色.
    (created,) = wx.fake.calls_to("externalcontact/add_corp_tag")
    assert created.body == {"tag": [{"name": "蓝色"}], "group_id": groups[""]}
    (mark,) = wx.fake.calls_to("externalcontact/mark_tag")
    blue = next(t["id"] for g in wx.fake.groups for t in g["tag"] if t["name"] == "蓝色")
    assert mark.body is not None and set(mark.body) == {"userid", "external_userid", "add_tag"}
    assert (mark.body["userid"], mark.body["external_userid"]) == ("wangfang", "wmZL01")
    assert set(mark.body["add_tag"]) == {groups["红色"], blue}
    assert set(wx.fake.tags_of("wangfang", "wmZL01")) == {groups["红色"], blue}
    with wx.db.session() as s:
        assert s.scalar(select(Tag.wecom_tag_id).where(Tag.name == "蓝色")) == blue
    # Untag in chat: removed in WeCom too.
    wx.say("wangfang", "删标签 赵六 偏好:红色")
    wx.drain()
    assert wx.fake.tags_of("wangfang", "wmZL01") == [blue]
    assert _local_tags(wx, cid) == {"蓝色"}


def test_tags_edited_on_the_phone_flow_back(wx: Harness) -> None:
    build_store(wx.api)
    groups = wx.fake.add_group("会员", ["金卡", "银卡"])
    cid = _contact(wx, tags=[groups["金卡"]])
    assert _local_tags(wx, cid) == {"金卡"}
    wx.fake.follows["wangfang"]["wmZL01"]["tag_id"] = [groups["银卡"]]
    wx.post(F.contact_xml("edit_external_contact", "wangfang", "wmZL01"))
    wx.drain()
    assert _local_tags(wx, cid) == {"银卡"}
    # A tag created on the phone in a new group arrives with the contact.
    more = wx.fake.add_group("兴趣", ["户外"])
    wx.fake.follows["wangfang"]["wmZL01"]["tag_id"].append(more["户外"])
    later = int(time.time()) + 1  # a second edit is a second event (another CreateTime)
    wx.post(F.contact_xml("edit_external_contact", "wangfang", "wmZL01", created=later))
    wx.drain()
    assert _local_tags(wx, cid) == {"银卡", "户外"}


def test_change_external_tag_events_update_the_catalog(wx: Harness) -> None:
    groups = wx.fake.add_group("会员", ["金卡"])
    wx.post(
        F.event_xml(
            "change_external_tag", {"Id": groups["金卡"], "TagType": "tag", "ChangeType": "create"}
        )
    )
    wx.drain()
    with wx.db.session() as s:
        assert s.scalar(select(Tag.name).where(Tag.wecom_tag_id == groups["金卡"])) == "金卡"
        assert (
            s.scalar(select(TagGroup.wecom_group_id).where(TagGroup.name == "会员")) == groups[""]
        )
    wx.fake.groups[0]["tag"][0]["name"] = "黑金卡"
    wx.post(
        F.event_xml(
            "change_external_tag", {"Id": groups["金卡"], "TagType": "tag", "ChangeType": "update"}
        )
    )
    wx.drain()
    with wx.db.session() as s:
        assert s.scalar(select(Tag.name).where(Tag.wecom_tag_id == groups["金卡"])) == "黑金卡"
    wx.post(
        F.event_xml(
            "change_external_tag", {"Id": groups["金卡"], "TagType": "tag", "ChangeType": "delete"}
        )
    )
    wx.drain()
    with wx.db.session() as s:
        assert s.scalar(select(Tag.wecom_tag_id).where(Tag.name == "黑金卡")) is None


def test_reconcile_repairs_drift_both_ways(wx: Harness) -> None:
    build_store(wx.api)
    groups = wx.fake.add_group("会员", ["金卡", "银卡"])
    a = _contact(wx, "wmA", "甲", tags=[groups["金卡"]])
    b = _contact(wx, "wmB", "乙", tags=[])
    # Drift 1: a callback was missed; WeCom has 银卡 on 甲.
    wx.fake.follows["wangfang"]["wmA"]["tag_id"].append(groups["银卡"])
    # Drift 2: the guide tagged 乙 in chat but the push failed for good.
    wx.fake.forbidden.add("externalcontact/mark_tag")
    wx.say("wangfang", "打标签 乙 会员:金卡")
    wx.drain()
    assert [r.status for r in wx.outbox(kind="mark_tag")] == ["dead"]
    wx.fake.forbidden.clear()
    sender = wx.client.app.state.senders["wecom"]  # type: ignore[attr-defined]
    report = reconcile(sender.ctx)
    wx.drain()
    assert report.pulled == 1 and report.pushed == 1
    assert _local_tags(wx, a) == {"金卡", "银卡"}
    assert wx.fake.tags_of("wangfang", "wmB") == [groups["金卡"]]
    assert _local_tags(wx, b) == {"金卡"}
    assert any("store wins" in line for line in report.lines())
    # A second run finds nothing to repair.
    again = reconcile(sender.ctx)
    assert again.pulled == 0 and again.pushed == 0 and again.contacts == 2
