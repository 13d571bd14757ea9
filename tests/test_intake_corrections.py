"""An ERP re-sends an order or refund with other contents: a conflict (nothing written) by
default; with ``?on_conflict=update`` a correction, with stats, credit and campaign facts
recomputed in the same transaction (they equal a full rebuild)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.services import stats
from bot.settings import Settings
from storage.db import Database
from storage.models import CustomerStats, Order, OrderItem, Refund
from tests.test_attribution import EXPECTED, cells, credits, rebuilt
from tests.test_kpi_shop import order, post, shop_client


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[TestClient]:
    with shop_client(settings, db) as client:
        yield client


def _o2(**changes: Any) -> dict[str, Any]:
    row = order("O2", "c2", "2026-11-03 12:00", 30000, 12000, 2, "SH01", guide="G01")
    row["campaign"] = "D11-2026"
    row.update(changes)
    return {k: v for k, v in row.items() if v is not None}


def _stats(db: Database) -> dict[int, tuple[Any, ...]]:
    with db.session() as s:
        return {
            st.customer_id: (st.order_count, st.spend_cents, st.refund_cents, st.last_order_at)
            for st in s.scalars(select(CustomerStats))
        }


def _recomputed(db: Database) -> dict[int, tuple[Any, ...]]:
    """Stats of every customer rebuilt from their orders (rolled back)."""
    with db.uow() as uow:
        ids = list(uow.session.scalars(select(CustomerStats.customer_id)))
        stats.recompute(uow.session, ids)
        uow.session.flush()
        out = {
            st.customer_id: (st.order_count, st.spend_cents, st.refund_cents, st.last_order_at)
            for st in uow.session.scalars(select(CustomerStats))
        }
        uow.rollback()
        return out


def _order(db: Database, no: str) -> Order:
    with db.session() as s:
        found = s.scalar(select(Order).where(Order.order_no == no))
        assert found is not None
        return found


def test_a_resent_order_with_other_contents_is_a_conflict_and_writes_nothing(
    shop: TestClient, db: Database
) -> None:
    before_cells, before_stats = cells(db), _stats(db)
    same = post(shop, "/api/v1/orders", [_o2()])
    assert same["unchanged"] == 1 and same["results"][0]["differs"] == []

    r = shop.post("/api/v1/orders", json=[_o2(paid_cents=28000, campaign=None)])
    assert r.status_code == 200
    body = r.json()
    assert (body["conflict"], body["unchanged"], body["accepted"]) == (1, 0, 0)
    res = body["results"][0]
    assert res["status"] == "conflict" and res["id"] == _order(db, "O2").id
    assert {d["field"]: (d["stored"], d["sent"]) for d in res["differs"]} == {
        "paid_cents": (30000, 28000),
        "campaign": ("D11-2026", None),
    }
    assert _order(db, "O2").paid_cents == 30000
    assert credits(db) == EXPECTED
    assert cells(db) == before_cells and _stats(db) == before_stats


def test_on_conflict_update_corrects_the_order_and_everything_derived(
    shop: TestClient, db: Database
) -> None:
    c2 = _order(db, "O2").customer_id
    fixed = _o2(paid_cents=28000, campaign=None, items=[{"sku": "TEE", "quantity": 2}])
    body = post(
        shop,
        "/api/v1/orders?on_conflict=update",
        [
            fixed,
            # O6 gets the coupon it was really sold with: the coupon credits it
            order("O6", "c6", "2026-11-06 12:00", 10000, 4000, 1, "SH01", coupon_code="D26-100"),
            # O7 belonged to someone else (c1) and happened in the window
            order("O7", "c1", "2026-11-10 12:00", 15000, 5000, 1, "SH01"),
            order("O5", "c5", "2026-11-15 18:00", 25000, 10000, 1, "SH01", guide="G01"),
        ],
    )
    assert [r["status"] for r in body["results"]] == ["updated"] * 3 + ["unchanged"]
    assert body["updated"] == 3 and body["unchanged"] == 1
    o2 = _order(db, "O2")
    assert (o2.paid_cents, o2.campaign_id, o2.attribution) == (28000, None, None)
    with db.session() as s:
        skus = s.scalars(select(OrderItem.sku).where(OrderItem.order_id == o2.id)).all()
    assert skus == ["TEE"]
    now = credits(db)
    assert now["O2"] == (None, None)  # 李四 is not targeted: without the ERP's word, no credit
    assert now["O6"] == ("D11-2026", "coupon")
    assert now["O7"] == (None, None)  # 张三 is not targeted either
    assert {k: v for k, v in now.items() if k not in {"O2", "O6", "O7"}} == {
        k: v for k, v in EXPECTED.items() if k not in {"O2", "O6", "O7"}
    }
    assert cells(db) == rebuilt(db)
    assert _stats(db) == _recomputed(db)
    with db.session() as s:
        st = s.get(CustomerStats, c2)
        assert st is not None and st.spend_cents == 28000 + 20000 and st.dirty
        owner = {who: s.scalar(select(Order.customer_id).where(Order.order_no == no))
                 for who, no in (("c1", "O1"), ("c4", "O7"))}  # fmt: skip
        assert owner["c4"] == owner["c1"]  # O7 moved to 张三
        zhang = s.get(CustomerStats, owner["c1"])
        assert zhang is not None and zhang.order_count == 4  # P1, O0, O1 and now O7
        zhao = s.scalar(
            select(CustomerStats)
            .join(Order, Order.customer_id == CustomerStats.customer_id, isouter=True)
            .where(CustomerStats.order_count == 0)
        )
        assert zhao is not None  # 赵六 has no order left


def test_a_correction_that_cannot_hold_its_refunds_is_rejected(
    shop: TestClient, db: Database
) -> None:
    before = cells(db)
    r = shop.post(
        "/api/v1/orders?on_conflict=update",
        json=[order("O4", "c3", "2026-11-04 20:00", 30000, 15000, 2, "BJ01", guide="G02")],
    )
    res = r.json()["results"][0]
    assert res["status"] == "rejected" and res["errors"][0]["field"] == "paid_cents"
    assert "40000" in res["errors"][0]["reason"]
    assert _order(db, "O4").paid_cents == 40000 and cells(db) == before


def test_a_resent_refund_is_a_conflict_or_with_update_a_correction(
    shop: TestClient, db: Database
) -> None:
    r3 = {
        "refund_no": "R3",
        "order_no": "O2",
        "amount_cents": 15000,
        "units": 1,
        "refunded_at": "2026-11-10 10:00",
    }
    assert post(shop, "/api/v1/refunds", [r3])["unchanged"] == 1
    bigger = {**r3, "amount_cents": 30000, "units": 2}
    body = shop.post("/api/v1/refunds", json=[bigger]).json()
    assert body["conflict"] == 1
    assert {d["field"] for d in body["results"][0]["differs"]} == {"amount_cents", "units"}
    assert _order(db, "O2").refunded_cents == 15000

    body = post(shop, "/api/v1/refunds?on_conflict=update", [bigger])
    assert body["updated"] == 1
    assert _order(db, "O2").refunded_cents == 30000
    with db.session() as s:
        refund = s.scalar(select(Refund).where(Refund.refund_no == "R3"))
        assert refund is not None and (refund.amount_cents, refund.units) == (30000, 2)
    assert cells(db) == rebuilt(db)
    assert _stats(db) == _recomputed(db)

    too_much = {**r3, "amount_cents": 30001}
    body = shop.post("/api/v1/refunds?on_conflict=update", json=[too_much]).json()
    assert body["rejected"] == 1 and "30001" in body["results"][0]["errors"][0]["reason"]
    assert _order(db, "O2").refunded_cents == 30000


def test_on_conflict_takes_only_report_or_update(shop: TestClient) -> None:
    r = shop.post("/api/v1/orders?on_conflict=overwrite", json=[_o2()])
    assert r.status_code == 422


def test_an_order_resent_with_an_extra_identity_is_unchanged(
    shop: TestClient, db: Database
) -> None:
    # The same person, also named by a member number now: no correction.
    body = post(shop, "/api/v1/orders", [_o2(member_no="VIP-LI4")])
    assert body["unchanged"] == 1
    # Another person (an unknown phone): the customer differs.
    body = shop.post("/api/v1/orders", json=[_o2(phone="13900009999")]).json()
    assert body["conflict"] == 1
    assert body["results"][0]["differs"][0]["field"] == "customer"
    assert body["results"][0]["differs"][0]["sent"] == "phone:13900009999"


def test_a_correction_naming_a_customer_that_does_not_exist_is_rejected(
    shop: TestClient, db: Database
) -> None:
    row = _o2(phone=None, customer_id=424242)
    assert shop.post("/api/v1/orders", json=[row]).json()["conflict"] == 1
    body = shop.post("/api/v1/orders?on_conflict=update", json=[row]).json()
    assert body["rejected"] == 1
    assert body["results"][0]["errors"][0]["field"] == "customer_id"


def test_a_correction_into_the_future_is_rejected_like_a_new_order(
    shop: TestClient, db: Database
) -> None:
    body = shop.post("/api/v1/orders?on_conflict=update", json=[_o2(ordered_at="2099-01-01")])
    res = body.json()["results"][0]
    assert res["status"] == "rejected" and res["errors"][0]["field"] == "ordered_at"
    assert _order(db, "O2").ordered_at.year == 2026


def test_a_refund_corrected_onto_another_order_moves_its_figures(
    shop: TestClient, db: Database
) -> None:
    o1, o3 = _order(db, "O1").refunded_cents, _order(db, "O3").refunded_cents
    moved = {
        "refund_no": "R1",
        "order_no": "O3",
        "amount_cents": 10000,
        "units": 1,
        "refunded_at": "2026-11-08 10:00",
    }
    body = post(shop, "/api/v1/refunds?on_conflict=update", [moved])
    assert body["updated"] == 1
    assert {d["field"] for d in body["results"][0]["differs"]} == {"order_no", "units"}
    assert _order(db, "O1").refunded_cents == o1 - 10000
    assert _order(db, "O3").refunded_cents == o3 + 10000
    assert cells(db) == rebuilt(db)
    assert _stats(db) == _recomputed(db)
