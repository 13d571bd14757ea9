"""``scrm doctor`` finds what older versions left (rows on merged customers, stats that do not
add up) and, with ``--repair``, fixes it and says what it changed."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from storage.db import Database
from storage.models import (
    AuditLog,
    Customer,
    CustomerStats,
    CustomerTag,
    Order,
    Staff,
    Tag,
    TagGroup,
    Task,
)


def _flat(out: str) -> str:
    return " ".join(out.split())


def _damaged_store(api, db: Database) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """A merged pair with an order, a tag and a task left on the merged customer (as a merge
    racing those writes could leave them before merges locked), and a third customer whose
    stats were left counting one order too few."""
    a = api("customers", [{"name": "甲", "phone": "13900000001", "guide": "G01"}])["results"][0][
        "id"
    ]
    b = api("customers", [{"name": "乙", "member_no": "VIP1"}])["results"][0]["id"]
    c = api("customers", [{"name": "丙", "phone": "13900000003"}])["results"][0]["id"]
    api(
        "orders",
        [
            {
                "order_no": "A1",
                "phone": "13900000001",
                "ordered_at": "2026-10-01",
                "paid_cents": 100,
            },
            {"order_no": "B1", "member_no": "VIP1", "ordered_at": "2026-10-02", "paid_cents": 200},
            {
                "order_no": "C1",
                "phone": "13900000003",
                "ordered_at": "2026-10-03",
                "paid_cents": 300,
            },
            {
                "order_no": "C2",
                "phone": "13900000003",
                "ordered_at": "2026-10-04",
                "paid_cents": 400,
            },
        ],
    )
    merged = api("customers", [{"phone": "13900000001", "member_no": "VIP1"}])
    assert merged["results"][0]["id"] == a
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
        at = datetime(2026, 10, 5, 4, tzinfo=UTC)
        s.add_all(
            [
                Order(order_no="B2", customer_id=b, ordered_at=at, paid_cents=500, created_at=at),
                CustomerTag(customer_id=b, tag_id=tag.id),
                Task(guide_id=g1, customer_id=b, day=date(2026, 10, 6), kind="silent"),
            ]
        )
        s.execute(
            update(CustomerStats)
            .where(CustomerStats.customer_id == c)
            .values(order_count=1, spend_cents=300)
        )
        uow.commit()
    return a, b, c


def test_doctor_reports_then_repairs_what_old_merges_left(
    api, cli, db: Database, client: TestClient, seed
) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _damaged_store(api, db)

    code, out = cli("doctor")
    out = _flat(out)
    assert code == 1, out
    assert "1 orders on 1 merged customers" in out
    assert "1 tags on 1 merged customers" in out and "1 tasks on 1 merged customers" in out
    assert f"customer {c}: 1 orders counted, 2 on file" in out
    assert "Nothing was changed. Run `scrm doctor --repair`" in out
    with db.session() as s:  # the report wrote nothing
        assert s.scalar(select(func.count()).where(Order.customer_id == b)) == 1

    code, out = cli("doctor", "--repair")
    out = _flat(out)
    assert code == 0, out
    assert "moved 1 orders, 1 tags, 1 tasks" in out and "from 1 merged customers" in out
    assert "rebuilt the stats of 2 customers" in out  # the survivor and the miscounted one

    survivor = client.get(f"/api/v1/customers/{b}").json()
    assert survivor["id"] == a and survivor["stats"]["order_count"] == 3
    assert survivor["stats"]["spend_cents"] == 800
    third = client.get(f"/api/v1/customers/{c}").json()
    assert third["stats"]["order_count"] == 2 and third["stats"]["spend_cents"] == 700
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Task).where(Task.customer_id == a)) == 1
        assert s.scalar(select(func.count()).where(CustomerTag.customer_id == a)) == 1
        assert s.get(Customer, b).merged_into == a  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).where(AuditLog.action == "customer.merge.repair")) == 1

    code, out = cli("doctor")
    assert code == 0 and "The store is sound" in _flat(out)
    code, out = cli("doctor", "--repair")  # again: nothing to do
    assert code == 0 and "The store is sound" in _flat(out)


def test_doctor_on_a_sound_store(api, cli, seed) -> None:  # type: ignore[no-untyped-def]
    api("customers", [{"name": "甲", "phone": "13900000001"}])
    api(
        "orders",
        [{"order_no": "A1", "phone": "13900000001", "ordered_at": "2026-10-01", "paid_cents": 100}],
    )
    code, out = cli("doctor")
    assert code == 0 and "The store is sound" in _flat(out)
