"""Property-based tests for the intake parsers and the incremental stats."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.intake.kinds import KINDS, ingest
from bot.intake.rows import normalize_phone, yuan_to_cents
from bot.services import stats as stats_service
from storage.db import Database
from storage.models import Customer, CustomerStats, Order

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "2026-10-01", "13800000000", "-1", "1e309", "１２３", "😀"]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.sampled_from(
    [
        "order_no",
        "member_no",
        "phone",
        "ordered_at",
        "paid_cents",
        "paid",
        "items",
        "sku",
        "store",
        "refund_no",
        "amount",
        "code",
        "name",
        "starts_at",
        "ends_at",
        "customer_id",
        "unionid",
        "role",
    ]
)
rows = st.lists(
    st.one_of(json_value, st.dictionaries(field_names, json_value, max_size=8)), max_size=6
)
slow = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@slow
@given(batch=rows, kind=st.sampled_from(sorted(KINDS)))
def test_any_input_gets_a_per_row_outcome_never_an_exception(
    db: Database, batch: list[Any], kind: str
) -> None:
    from zoneinfo import ZoneInfo

    with db.uow() as uow:
        result = ingest(uow.session, kind, batch, tz=ZoneInfo("Asia/Shanghai"))
        assert len(result.results) == len(batch)
        for r in result.results:
            assert r.status in {"created", "updated", "unchanged", "rejected"}
            if r.status == "rejected":
                assert r.errors and all(e["field"] and e["reason"] for e in r.errors)
        if result.count("created") == 0 and result.count("updated") == 0:
            # Nothing accepted: nothing written.
            assert uow.session.scalar(select(func.count()).select_from(Order)) == 0
            assert uow.session.scalar(select(func.count()).select_from(Customer)) == 0
        uow.rollback()


@given(st.from_regex(r"\+?(86|0086)?[ -]?1[3-9]\d[ -]?\d{4}[ -]?\d{4}", fullmatch=True))
def test_cn_mobiles_normalize_to_eleven_digits(raw: str) -> None:
    phone = normalize_phone(raw)
    assert len(phone) == 11 and phone.isdigit() and phone.startswith("1")
    assert normalize_phone(phone) == phone


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False))
def test_yuan_with_two_places_converts_exactly(amount: Decimal) -> None:
    assert yuan_to_cents(str(amount)) == int(amount * 100)
    assert yuan_to_cents(f"¥{amount}") == int(amount * 100)


start = datetime(2025, 1, 1, tzinfo=UTC)
an_order = st.tuples(
    st.integers(0, 3),  # which customer
    st.integers(0, 400 * 24).map(lambda h: start + timedelta(hours=h)),
    st.integers(0, 100_000),  # paid cents
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    orders=st.lists(an_order, min_size=1, max_size=25),
    cuts=st.lists(st.integers(1, 25), max_size=5),
)
def test_incremental_stats_equal_a_full_recompute(
    db: Database, orders: list[tuple[int, datetime, int]], cuts: list[int]
) -> None:
    """Whatever order and batching the orders arrive in, the delta path agrees with a rebuild."""
    from zoneinfo import ZoneInfo

    rows = [
        {
            "order_no": f"O{i}",
            "member_no": f"M{c}",
            "ordered_at": at.isoformat(),
            "paid_cents": paid,
        }
        for i, (c, at, paid) in enumerate(orders)
    ]
    bounds = sorted({0, len(rows), *(c for c in cuts if c < len(rows))})
    with db.uow() as uow:
        s = uow.session
        for lo, hi in itertools.pairwise(bounds):
            result = ingest(s, "orders", rows[lo:hi], tz=ZoneInfo("Asia/Shanghai"))
            assert result.count("created") == hi - lo
        s.flush()
        incremental = _snapshot(s)
        stats_service.recompute(s, list(incremental))
        assert _snapshot(s) == incremental
        uow.rollback()


def _snapshot(session: Any) -> dict[int, tuple[Any, ...]]:
    session.expire_all()
    return {
        st_.customer_id: (
            st_.first_order_at,
            st_.last_order_at,
            st_.order_count,
            st_.purchase_days,
            st_.spend_cents,
            st_.refund_cents,
            st_.typical_gap_days,
        )
        for st_ in session.scalars(select(CustomerStats))
    }
