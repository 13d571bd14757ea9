"""Batch intake through the HTTP API: auth, per-row outcomes, idempotency, refunds, stats."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Customer, CustomerStats, Order, OrderItem, Refund


def order(no: str, **kw: Any) -> dict[str, Any]:
    row = {"order_no": no, "member_no": "M1", "ordered_at": "2026-10-01 12:00", "paid_cents": 10000}
    if "paid" in kw:
        del row["paid_cents"]
    row.update(kw)
    return row


def count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def stats_of(db: Database, customer_id: int) -> CustomerStats:
    with db.session() as s:
        st = s.get(CustomerStats, customer_id)
        assert st is not None
        return st


def test_unauthenticated_calls_get_401_and_write_nothing(client: TestClient, db: Database) -> None:
    body = [order("A1")]
    r = client.post("/api/v1/orders", json=body, headers={"Authorization": ""})
    assert r.status_code == 401
    assert "bearer token" in r.json()["detail"]
    r = client.post("/api/v1/orders", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert count(db, Order) == 0


def test_orders_batch_is_idempotent_on_order_number(api, db: Database, seed) -> None:  # type: ignore[no-untyped-def]
    batch = [
        order(
            "A1",
            store="SH01",
            guide="G01",
            customer_name="张三",
            items=[{"sku": "TEE", "name": "T恤", "quantity": 2, "paid_cents": 10000}],
        ),
        order("A2", ordered_at="2026-10-15 09:00", paid="59.90", sku="CAP", item_name="帽子"),
    ]
    first = api("orders", batch)
    assert first["created"] == 2 and first["rejected"] == 0
    second = api("orders", batch)
    assert second["created"] == 0 and second["unchanged"] == 2
    assert count(db, Order) == 2
    assert count(db, OrderItem) == 2
    assert count(db, Customer) == 1
    with db.session() as s:
        a2 = s.scalar(select(Order).where(Order.order_no == "A2"))
        assert a2 is not None and a2.paid_cents == 5990 and a2.units == 1
        # "2026-10-15 09:00" has no zone: it is Shanghai time, stored as UTC.
        assert a2.ordered_at.isoformat() == "2026-10-15T01:00:00+00:00"


def test_each_row_is_accepted_or_rejected_on_its_own(api, db: Database, seed) -> None:  # type: ignore[no-untyped-def]
    result = api(
        "orders",
        [
            order("OK1"),
            order("BAD1", paid="12.345"),
            order("BAD2", store="NOPE"),
            {"order_no": "BAD3", "ordered_at": "2026-10-01", "paid_cents": 5},
            order("BAD4", ordered_at="2099-01-01"),
            order("OK1"),
            order("BAD5", paid_cents=-1),
            order("BAD6", colour="red"),
            "not an object",
        ],
    )
    assert result["created"] == 1
    assert result["rejected"] == 8
    by_index = {r["index"]: r for r in result["results"]}
    assert by_index[1]["errors"] == [
        {"field": "paid", "reason": "12.345 has more than 2 decimal places"}
    ]
    assert (
        by_index[2]["errors"][0]["field"] == "store"
        and "unknown store 'NOPE'" in by_index[2]["errors"][0]["reason"]
    )
    assert "name the customer" in by_index[3]["errors"][0]["reason"]
    assert (
        by_index[4]["errors"][0]["field"] == "ordered_at"
        and "future" in by_index[4]["errors"][0]["reason"]
    )
    assert "repeats row 0" in by_index[5]["errors"][0]["reason"]
    assert by_index[6]["errors"][0]["field"] == "paid_cents"
    assert by_index[7]["errors"][0] == {
        "field": "colour",
        "reason": "unknown field; check the spelling against the documented columns",
    }
    assert by_index[8]["errors"][0]["field"] == "row"
    # Rejected rows wrote nothing: one order, one customer.
    assert count(db, Order) == 1
    assert count(db, Customer) == 1


def test_bad_bodies_get_clear_4xx(client: TestClient, settings) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/orders", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/api/v1/orders", json={"order_no": "x"})
    assert r.status_code == 422 and "JSON array" in r.json()["detail"]
    r = client.post("/api/v1/orders", json=[{}] * (settings.intake_max_rows + 1))
    assert r.status_code == 413 and "at most" in r.json()["detail"]
    big = b"[" + b'"x",' * (settings.max_body_bytes // 4) + b'"x"]'
    r = client.post("/api/v1/orders", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_stats_follow_orders_incrementally(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    api("orders", [order("A1", ordered_at="2026-01-01 10:00", paid_cents=1000)])
    cid = api("orders", [order("A2", ordered_at="2026-01-31 10:00", paid_cents=2000)])["results"][
        0
    ]["id"]
    with db.session() as s:
        customer_id = s.scalar(select(Order.customer_id).where(Order.id == cid))
    st = stats_of(db, customer_id)
    assert (st.order_count, st.purchase_days, st.spend_cents, st.typical_gap_days) == (
        2,
        2,
        3000,
        30.0,
    )
    # Same day again: another order, not another purchase occasion.
    api("orders", [order("A3", ordered_at="2026-01-31 18:00", paid_cents=500)])
    st = stats_of(db, customer_id)
    assert (st.order_count, st.purchase_days, st.typical_gap_days) == (3, 2, 30.0)
    # A back-dated order recomputes the customer.
    api("orders", [order("A0", ordered_at="2025-12-02 10:00", paid_cents=100)])
    st = stats_of(db, customer_id)
    assert st.first_order_at.isoformat().startswith("2025-12-02")
    assert (st.order_count, st.purchase_days, st.spend_cents, st.typical_gap_days) == (
        4,
        3,
        3600,
        30.0,
    )


def test_refunds_adjust_order_and_stats_and_are_idempotent(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    api(
        "orders",
        [order("A1", paid_cents=10000), order("A2", ordered_at="2026-10-02", paid_cents=5000)],
    )
    batch = [
        {"refund_no": "R1", "order_no": "A1", "amount": "30.00", "refunded_at": "2026-10-03"},
        {"refund_no": "R2", "order_no": "A1", "amount_cents": 7001, "refunded_at": "2026-10-03"},
        {"refund_no": "R3", "order_no": "NOPE", "amount_cents": 1, "refunded_at": "2026-10-03"},
        {"refund_no": "R4", "order_no": "A2", "amount_cents": 1, "refunded_at": "2026-09-01"},
        {"refund_no": "R5", "order_no": "A1", "amount_cents": 7000, "refunded_at": "2026-10-04"},
    ]
    result = api("refunds", batch)
    statuses = [r["status"] for r in result["results"]]
    assert statuses == ["created", "rejected", "rejected", "rejected", "created"]
    errs = {r["index"]: r["errors"][0] for r in result["results"] if r["status"] == "rejected"}
    assert errs[1]["field"] == "amount_cents" and "paid 10000" in errs[1]["reason"]
    assert "send the order before its refund" in errs[2]["reason"]
    assert errs[3]["field"] == "refunded_at"
    again = api("refunds", batch)
    assert again["created"] == 0 and again["unchanged"] == 2
    assert count(db, Refund) == 2
    with db.session() as s:
        a1 = s.scalar(select(Order).where(Order.order_no == "A1"))
        assert a1 is not None and a1.refunded_cents == 10000
        st = s.get(CustomerStats, a1.customer_id)
        assert st is not None and st.refund_cents == 10000 and st.spend_cents == 15000


def test_directory_upserts_report_created_updated_unchanged(api, seed) -> None:  # type: ignore[no-untyped-def]
    again = api("stores", [{"code": "SH01", "name": "上海南京西路店", "city": "上海"}])
    assert again["unchanged"] == 1
    renamed = api("stores", [{"code": "SH01", "name": "上海新天地店"}])
    assert renamed["updated"] == 1
    bad_tz = api("stores", [{"code": "X", "name": "x", "timezone": "Mars/Base"}])
    assert "unknown time zone" in bad_tz["results"][0]["errors"][0]["reason"]
    clash = api("staff", [{"code": "G09", "name": "x", "wecom_userid": "wangfang"}])
    assert clash["results"][0]["errors"][0] == {
        "field": "wecom_userid",
        "reason": "'wangfang' already belongs to staff 'G01'",
    }
    camp = api(
        "campaigns",
        [
            {
                "code": "D11",
                "name": "双十一",
                "starts_at": "2026-11-01",
                "ends_at": "2026-11-12",
                "stores": ["SH01"],
                "coupons": ["D11-50", {"code": "D11-100", "value": "100"}],
                "fixed_cost": "5000",
            }
        ],
    )
    assert camp["created"] == 1
    assert (
        api(
            "campaigns",
            [
                {
                    "code": "D11",
                    "name": "双十一",
                    "starts_at": "2026-11-01",
                    "ends_at": "2026-11-12",
                    "stores": ["SH01"],
                    "fixed_cost_cents": 500000,
                }
            ],
        )["unchanged"]
        == 1
    )
    bad = api(
        "campaigns",
        [
            {
                "code": "X",
                "name": "x",
                "starts_at": "2026-11-02",
                "ends_at": "2026-11-01",
                "coupons": ["D11-50"],
            }
        ],
    )
    assert "ends_at must be after starts_at" in bad["results"][0]["errors"][0]["reason"]
    steal = api(
        "campaigns",
        [
            {
                "code": "Y",
                "name": "y",
                "starts_at": "2026-12-01",
                "ends_at": "2026-12-02",
                "coupons": ["D11-50"],
            }
        ],
    )
    assert "already belongs to campaign 'D11'" in steal["results"][0]["errors"][0]["reason"]


def test_customers_upsert_sets_guide_relation(api, db: Database, seed, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    result = api(
        "customers",
        [
            {
                "name": "张三",
                "phone": "+86 138 1234 5678",
                "member_no": "M9",
                "store": "SH01",
                "guide": "G01",
                "gender": "男",
                "birthday": "1990-05-01",
            }
        ],
    )
    assert result["created"] == 1
    cid = result["results"][0]["id"]
    again = api("customers", [{"phone": "13812345678", "name": "张三"}])
    assert again["results"][0] == {
        "index": 0,
        "status": "unchanged",
        "key": "phone:13812345678",
        "id": cid,
        "errors": [],
        "differs": [],
        "merged": [],
    }
    found = client.get(
        "/api/v1/customers", params={"kind": "phone", "value": "138-1234-5678"}
    ).json()
    assert found["id"] == cid and found["name"] == "张三"
    with db.session() as s:
        c = s.get(Customer, cid)
        assert (
            c is not None
            and c.name_initials == "zs"
            and c.name_pinyin == "zhangsan"
            and c.phone_last4 == "5678"
        )


def test_a_row_that_merges_two_customers_says_merged(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    a = api("customers", [{"phone": "13800000001"}])["results"][0]["id"]
    b = api("customers", [{"member_no": "VIP1"}])["results"][0]["id"]
    result = api("customers", [{"phone": "13800000001", "member_no": "VIP1"}])
    assert result["merged"] == 1 and result["unchanged"] == 0
    assert result["results"][0]["status"] == "merged"
    assert result["results"][0]["id"] == a and result["results"][0]["merged"] == [b]
    # An order naming two customers is created, and says whom it merged.
    c = api("customers", [{"unionid": "u-9"}])["results"][0]["id"]
    r = api("orders", [order("X1", member_no="VIP1", unionid="u-9")])["results"][0]
    assert r["status"] == "created" and r["merged"] == [c]
    with db.session() as s:
        assert s.get(Customer, c).merged_into == a  # type: ignore[union-attr]
    # Naming the same person again merges nothing.
    again = api("customers", [{"phone": "13800000001", "member_no": "VIP1"}])
    assert again["results"][0]["status"] == "unchanged" and again["merged"] == 0


def _raw(client: TestClient, kind: str, body: str) -> dict[str, Any]:
    r = client.post(
        f"/api/v1/{kind}", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_non_finite_and_huge_numbers_are_row_errors_naming_the_field(
    client: TestClient, db: Database
) -> None:
    good = '{"order_no": "OK", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 100}'
    rows = [
        '{"order_no": "N1", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": NaN}',
        '{"order_no": "N2", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": Infinity}',
        '{"order_no": "N3", "member_no": "M1", "ordered_at": "2026-10-01", "paid": 1e999999}',
        '{"order_no": "N4", "customer_id": 99999999999999999999, "ordered_at": "2026-10-01",'
        ' "paid_cents": 1}',
        '{"order_no": "N5", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 1,'
        ' "units": ' + "9" * 5000 + "}",
        '{"order_no": "N6", "member_no": "M1", "ordered_at": "2026-10-01", "paid": "NaN"}',
        '{"order_no": "N7", "member_no": "M1", "ordered_at": "2026-10-01", "paid": "Infinity"}',
        '{"order_no": "N8", "member_no": "M1", "ordered_at": "2026-10-01", "paid": "1e999999"}',
        '{"order_no": "N9", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": 1,'
        ' "units": "99999999999999999999"}',
        '{"order_no": "N10", "member_no": "M1", "ordered_at": "2026-10-01", "paid_cents": -Infinity}',
    ]
    result = _raw(client, "orders", "[" + ",".join([good, *rows]) + "]")
    assert result["created"] == 1 and result["rejected"] == len(rows)
    fields = [r["errors"][0]["field"] for r in result["results"][1:]]
    assert fields == [
        "paid_cents",
        "paid_cents",
        "paid",
        "customer_id",
        "units",
        "paid",
        "paid",
        "paid",
        "units",
        "paid_cents",
    ]
    assert count(db, Order) == 1
    # Refunds too.
    refund = _raw(
        client,
        "refunds",
        '[{"refund_no": "R1", "order_no": "OK", "amount_cents": NaN, "refunded_at": "2026-10-02"}]',
    )
    assert refund["results"][0]["errors"][0]["field"] == "amount_cents"


def test_excel_damage_is_refused_saying_what_happened(api, db: Database) -> None:  # type: ignore[no-untyped-def]
    result = api(
        "orders",
        [
            order("E1", phone="1.38001E+10", member_no=None),
            order("1.23457E+11"),
            order("E3", phone="2162888888", member_no=None),  # 021-6288 8888 lost its 0
            order("E4", ordered_at="45627"),
            order("E5", ordered_at="45627.5"),
            order("E6", ordered_at=45627),
            order("OK1", phone="+1 415 555 2671", member_no=None),  # typed as text: kept
            order("OK2", phone="021-62888888", member_no=None),
        ],
    )
    by_no = {r["key"] or str(r["index"]): r for r in result["results"]}
    assert result["created"] == 2
    e1 = result["results"][0]["errors"][0]
    assert e1["field"] == "phone" and "scientific notation" in e1["reason"]
    e2 = result["results"][1]["errors"][0]
    assert e2["field"] == "order_no" and "Excel" in e2["reason"]
    e3 = result["results"][2]["errors"][0]
    assert e3["field"] == "phone" and "lost its leading 0" in e3["reason"]
    for i in (3, 4, 5):
        err = result["results"][i]["errors"][0]
        assert err["field"] == "ordered_at" and "serial number (2024-12-01)" in err["reason"]
    assert by_no["OK1"]["status"] == "created"
    customers = api("customers", [{"member_no": "B1", "birthday": "33000"}])
    err = customers["results"][0]["errors"][0]
    assert err["field"] == "birthday" and "serial number (1990-05-07)" in err["reason"]
