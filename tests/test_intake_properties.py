"""Property-based tests for the intake parsers and the incremental stats."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.intake import damage
from bot.intake.kinds import KINDS, ingest
from bot.intake.rows import OrderIn, normalize_phone, yuan_to_cents
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
            assert r.status in {"created", "updated", "merged", "unchanged", "rejected"}
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


SH = ZoneInfo("Asia/Shanghai")
ORDER = {"order_no": "A1", "member_no": "M1", "ordered_at": "2026-10-01 10:00", "paid_cents": 100}
bad_literals = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999999", "-1e999999", "1E400"]),
    st.integers(min_value=2**63, max_value=10**40).map(str),
    st.integers(min_value=-(10**40), max_value=-(2**63) - 1).map(str),
)


def _errors(raw: dict[str, Any]) -> list[dict[str, str]]:
    from bot.intake.rows import explain

    try:
        OrderIn.model_validate(raw, context={"tz": SH})
    except Exception as exc:  # a ValidationError: anything else fails the test
        from pydantic import ValidationError

        assert isinstance(exc, ValidationError), exc
        return explain(exc)
    return []


@given(
    name=st.sampled_from(
        ["order_no", "member_no", "paid_cents", "paid", "cost_cents", "units", "customer_id",
         "ordered_at", "store", "quantity", "discount"]
    ),
    literal=bad_literals,
)  # fmt: skip
def test_a_number_no_store_can_hold_is_an_error_naming_its_field(name: str, literal: str) -> None:
    # The literal goes into the JSON text unquoted, as a careless exporter writes it.
    text = json.dumps({**ORDER, name: 0}).replace(f'"{name}": 0', f'"{name}": {literal}')
    errors = _errors(json.loads(text, **damage.JSON_HOOKS))
    assert errors and errors[0]["field"] == name


@given(
    name=st.sampled_from(["order_no", "member_no", "phone", "customer_id", "paid", "sku"]),
    mantissa=st.from_regex(r"[1-9](\.\d{1,5})?", fullmatch=True),
    exponent=st.integers(1, 20),
    sign=st.sampled_from(["E+", "e+", "E"]),
)
def test_scientific_notation_in_ids_and_amounts_is_excel_damage(
    name: str, mantissa: str, exponent: int, sign: str
) -> None:
    errors = _errors({**ORDER, name: f"{mantissa}{sign}{exponent}"})
    assert errors and errors[0]["field"] == name
    assert "scientific notation" in errors[0]["reason"]


@given(serial=st.integers(1, 2958465), fraction=st.sampled_from(["", ".5", ".25", ".999"]))
def test_an_excel_serial_date_is_refused_with_the_date_it_meant(serial: int, fraction: str) -> None:
    errors = _errors({**ORDER, "ordered_at": f"{serial}{fraction}"})
    meant = (date(1899, 12, 30) + timedelta(days=serial)).isoformat()
    assert errors == [
        {
            "field": "ordered_at",
            "reason": f"{serial}{fraction} looks like a date Excel turned into a serial number "
            f"({meant}); format the column as a date (yyyy-mm-dd hh:mm) and export again",
        }
    ]


# Up to 2025: later times may be "more than a day in the future" for the row check.
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2025, 12, 31)))
def test_a_written_time_is_never_taken_for_a_serial(at: datetime) -> None:
    at = at.replace(microsecond=0)
    for text in (at.isoformat(sep=" "), at.strftime("%Y/%m/%d %H:%M:%S")):
        row = OrderIn.model_validate({**ORDER, "ordered_at": text}, context={"tz": SH})
        assert row.ordered_at == at.replace(tzinfo=SH)


@given(st.from_regex(r"[2-9]\d{8,10}", fullmatch=True).filter(lambda p: not p.startswith("86")))
def test_a_bare_number_that_lost_its_leading_zero_is_refused(digits: str) -> None:
    errors = _errors({**ORDER, "phone": digits})
    assert errors and errors[0]["field"] == "phone" and "leading 0" in errors[0]["reason"]
    # Written with its 0 (or its + country code) it is a phone number.
    assert OrderIn.model_validate({**ORDER, "phone": "0" + digits}).phone == "0" + digits
    assert OrderIn.model_validate({**ORDER, "phone": "+" + digits}).phone == digits


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_every_64_bit_integer_survives_the_json_hooks(n: int) -> None:
    assert json.loads(json.dumps({"n": n}), **damage.JSON_HOOKS) == {"n": n}
