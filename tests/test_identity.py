"""One customer across channels: find-or-create by any identity, and merges."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.services import identity
from storage.db import Database
from storage.models import (
    AuditLog,
    CampaignParticipant,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    Order,
    Staff,
    Tag,
    TagGroup,
    Task,
)

SH = ZoneInfo("Asia/Shanghai")


def test_two_known_identities_merge_into_the_older_customer(
    api, db: Database, client: TestClient, seed
) -> None:  # type: ignore[no-untyped-def]
    a = api("customers", [{"name": "张三", "phone": "13800000001", "guide": "G01"}])["results"][0][
        "id"
    ]
    b = api("customers", [{"name": "张三(会员)", "member_no": "VIP001", "guide": "G02"}])[
        "results"
    ][0]["id"]
    assert a != b
    api(
        "orders",
        [
            {
                "order_no": "A1",
                "phone": "13800000001",
                "ordered_at": "2026-09-01",
                "paid_cents": 1000,
            }
        ],
    )
    api(
        "orders",
        [{"order_no": "B1", "member_no": "VIP001", "ordered_at": "2026-10-01", "paid_cents": 3000}],
    )
    # b owns a tag, a note and a task; a also has a task on the same day with the same guide.
    with db.uow() as uow:
        s = uow.session
        group = TagGroup(name="偏好", open=True)
        s.add(group)
        s.flush()
        tag = Tag(group_id=group.id, name="VIP")
        s.add(tag)
        s.flush()
        g1 = s.scalar(select(Staff.id).where(Staff.code == "G01"))
        assert g1 is not None
        s.add_all(
            [
                CustomerTag(customer_id=b, tag_id=tag.id),
                CustomerTag(customer_id=a, tag_id=tag.id),
                Interaction(customer_id=b, staff_id=g1, kind="note", body="喜欢红色"),
                Task(guide_id=g1, customer_id=b, day=date(2026, 11, 1), kind="silent"),
                Task(guide_id=g1, customer_id=a, day=date(2026, 11, 1), kind="silent"),
                Task(guide_id=g1, customer_id=b, day=date(2026, 11, 2), kind="silent"),
            ]
        )
        uow.commit()

    # A WeChat order names both: they are one person.
    r = api(
        "orders",
        [
            {
                "order_no": "C1",
                "phone": "13800000001",
                "member_no": "VIP001",
                "unionid": "u-123",
                "ordered_at": "2026-11-01",
                "paid_cents": 500,
            }
        ],
    )
    assert r["created"] == 1

    with db.session() as s:
        assert s.get(Customer, b).merged_into == a  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(Order).where(Order.customer_id == a)) == 3
        idents = set(
            s.execute(
                select(CustomerIdentity.kind, CustomerIdentity.value).where(
                    CustomerIdentity.customer_id == a
                )
            ).all()
        )
        assert idents == {("phone", "13800000001"), ("member_no", "VIP001"), ("unionid", "u-123")}
        assert (
            s.scalar(
                select(func.count()).select_from(CustomerTag).where(CustomerTag.customer_id == a)
            )
            == 1
        )
        assert s.scalar(select(Interaction.customer_id)) == a
        assert sorted(t.day.day for t in s.scalars(select(Task).where(Task.customer_id == a))) == [
            1,
            2,
        ]
        relations = {
            r.staff_id
            for r in s.scalars(select(GuideRelation).where(GuideRelation.customer_id == a))
        }
        assert len(relations) == 2  # both guides follow the survivor
        merge = s.scalar(select(CustomerMerge))
        assert merge is not None and (merge.source_customer_id, merge.target_customer_id) == (b, a)
        assert merge.moved["orders"] == 1
        assert (
            s.scalar(select(AuditLog.action).where(AuditLog.customer_id == a)) == "customer.merge"
        )
        st = s.get(CustomerStats, a)
        assert st is not None and (st.order_count, st.spend_cents) == (3, 4500)
        assert s.get(CustomerStats, b) is None

    # The old id still finds the survivor, through the API and the service.
    view = client.get(f"/api/v1/customers/{b}").json()
    assert view["id"] == a and view["merged"] is True
    assert (
        client.get("/api/v1/customers", params={"kind": "member_no", "value": "VIP001"}).json()[
            "id"
        ]
        == a
    )
    with db.session() as s:
        assert identity.canonical_id(s, b) == a
        assert identity.canonical_id(s, 999) is None


def test_merge_chains_resolve_to_the_last_survivor(api, db: Database, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    ids = [api("customers", [{"member_no": f"M{i}"}])["results"][0]["id"] for i in range(3)]
    api("customers", [{"member_no": "M1", "phone": "13900000002"}])
    api(
        "customers", [{"member_no": "M0", "phone": "13900000002"}]
    )  # M1's customer now merges into M0's
    api("customers", [{"member_no": "M2", "unionid": "u2"}])
    api("customers", [{"member_no": "M0", "unionid": "u2"}])
    for cid in ids:
        assert client.get(f"/api/v1/customers/{cid}").json()["id"] == ids[0]
    assert client.get("/api/v1/customers/424242").status_code == 404


def test_one_batch_naming_one_new_person_three_ways_creates_one_customer(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    api(
        "orders",
        [
            {"order_no": "1", "phone": "13700000000", "ordered_at": "2026-01-01", "paid_cents": 1},
            {"order_no": "2", "member_no": "X", "ordered_at": "2026-01-02", "paid_cents": 1},
            {
                "order_no": "3",
                "member_no": "X",
                "wecom_external_userid": "wm1",
                "phone": "13700000000",
                "ordered_at": "2026-01-03",
                "paid_cents": 1,
            },
        ],
    )
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.scalar(select(CustomerStats.order_count)) == 3


def test_unknown_customer_id_is_rejected(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = api(
        "orders",
        [{"order_no": "1", "customer_id": 77, "ordered_at": "2026-01-01", "paid_cents": 1}],
    )
    assert r["results"][0]["errors"] == [
        {"field": "customer_id", "reason": "customer 77 does not exist"}
    ]


def test_a_merge_keeps_the_earliest_campaign_registration(
    api, db: Database, client: TestClient, seed
) -> None:  # type: ignore[no-untyped-def]
    api("campaigns", [{"code": "D11", "name": "双11", "starts_at": "2026-11-01",
                       "ends_at": "2026-11-12"}])  # fmt: skip
    a = api("customers", [{"name": "张三", "phone": "13800000001"}])["results"][0]["id"]
    b = api("customers", [{"name": "张三", "member_no": "VIP001"}])["results"][0]["id"]
    url = "/api/v1/campaigns/D11/participants"
    for row in (
        {"phone": "13800000001", "registered_at": "2026-11-05 10:00"},
        {"member_no": "VIP001", "registered_at": "2026-11-02 09:00"},
    ):
        assert client.post(url, json=[row]).status_code == 200
    # one order names both: the two are one person, and the older record (a) survives
    api("orders", [{"order_no": "X1", "phone": "13800000001", "member_no": "VIP001",
                    "ordered_at": "2026-11-06", "paid_cents": 5000, "campaign": "D11"}])  # fmt: skip
    with db.session() as s:
        assert s.get(Customer, b).merged_into == a  # type: ignore[union-attr]
        rows = s.scalars(select(CampaignParticipant)).all()
        assert [(r.customer_id, r.orders) for r in rows] == [(a, 1)]
        assert rows[0].registered_at is not None
        assert rows[0].registered_at.astimezone(SH).isoformat() == "2026-11-02T09:00:00+08:00"
