"""Per-customer purchase stats, kept current in the same transaction as each order or refund.

The common case, orders newer than the customer's last one, is a delta (counts and sums
move forward). A back-dated order, a refund or a merge recomputes just the customers it
touches from their own orders. Nothing here scans the whole order table.

A purchase occasion is a distinct UTC calendar day: two receipts on one day are one visit.
The typical gap is the mean gap between occasions, (last - first) / (occasions - 1), which
is exactly what the delta path can keep without reading history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.base import utcnow
from storage.models import CustomerStats, Order
from storage.upsert import upsert

_FIELDS = [
    "first_order_at",
    "last_order_at",
    "order_count",
    "purchase_days",
    "spend_cents",
    "refund_cents",
    "typical_gap_days",
    "dirty",
    "updated_at",
]


@dataclass(frozen=True)
class NewOrder:
    customer_id: int
    ordered_at: datetime
    paid_cents: int


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _gap(first: datetime | None, last: datetime | None, days: int) -> float | None:
    if first is None or last is None or days < 2:
        return None
    return round((_utc_day(last) - _utc_day(first)).days / (days - 1), 2)


def _chunks(ids: Sequence[int], size: int = 900) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def apply_orders(session: Session, orders: Sequence[NewOrder]) -> None:
    """Fold freshly inserted orders into their customers' stats."""
    if not orders:
        return
    by_customer: dict[int, list[NewOrder]] = defaultdict(list)
    for order in orders:
        by_customer[order.customer_id].append(order)
    ids = sorted(by_customer)
    current: dict[int, CustomerStats] = {}
    cols = [getattr(CustomerStats, f) for f in ("customer_id", *_FIELDS[:6])]
    for chunk in _chunks(ids):
        for row in session.execute(select(*cols).where(CustomerStats.customer_id.in_(chunk))):
            current[row.customer_id] = row  # type: ignore[assignment]

    now = utcnow()
    rows: list[dict[str, object]] = []
    backdated: list[int] = []
    for cid in ids:
        new = sorted(by_customer[cid], key=lambda o: o.ordered_at)
        old = current.get(cid)
        if (
            old is not None
            and old.last_order_at is not None
            and new[0].ordered_at <= old.last_order_at
        ):
            backdated.append(cid)  # history changed in the middle: recompute this one
            continue
        first = old.first_order_at if old is not None and old.first_order_at else new[0].ordered_at
        last_day = _utc_day(old.last_order_at) if old is not None and old.last_order_at else None
        new_days = {_utc_day(o.ordered_at) for o in new} - ({last_day} if last_day else set())
        days = (old.purchase_days if old is not None else 0) + len(new_days)
        last = new[-1].ordered_at
        rows.append(
            {
                "customer_id": cid,
                "first_order_at": first,
                "last_order_at": last,
                "order_count": (old.order_count if old is not None else 0) + len(new),
                "purchase_days": days,
                "spend_cents": (old.spend_cents if old is not None else 0)
                + sum(o.paid_cents for o in new),
                "refund_cents": old.refund_cents if old is not None else 0,
                "typical_gap_days": _gap(first, last, days),
                "dirty": True,
                "updated_at": now,
            }
        )
    upsert(session, CustomerStats, rows, ["customer_id"], _FIELDS)
    if backdated:
        recompute(session, backdated)


def recompute(session: Session, customer_ids: Iterable[int]) -> None:
    """Rebuild stats of just these customers from their orders."""
    ids = sorted(set(customer_ids))
    acc: dict[int, dict[str, object]] = {}
    days: dict[int, set[date]] = defaultdict(set)
    for chunk in _chunks(ids):
        result = session.execute(
            select(Order.customer_id, Order.ordered_at, Order.paid_cents, Order.refunded_cents)
            .where(Order.customer_id.in_(chunk))
            .order_by(Order.customer_id, Order.ordered_at)
        )
        for cid, at, paid, refunded in result:
            row = acc.get(cid)
            if row is None:
                row = acc[cid] = {
                    "first_order_at": at,
                    "order_count": 0,
                    "spend_cents": 0,
                    "refund_cents": 0,
                }
            row["last_order_at"] = at
            row["order_count"] = int(row["order_count"]) + 1  # type: ignore[call-overload]
            row["spend_cents"] = int(row["spend_cents"]) + paid  # type: ignore[call-overload]
            row["refund_cents"] = int(row["refund_cents"]) + refunded  # type: ignore[call-overload]
            days[cid].add(_utc_day(at))
    now = utcnow()
    rows: list[dict[str, object]] = []
    for cid in ids:
        row = acc.get(
            cid,
            {
                "first_order_at": None,
                "last_order_at": None,
                "order_count": 0,
                "spend_cents": 0,
                "refund_cents": 0,
            },
        )
        n_days = len(days.get(cid, ()))
        rows.append(
            {
                "customer_id": cid,
                **row,
                "last_order_at": row.get("last_order_at"),
                "purchase_days": n_days,
                "typical_gap_days": _gap(row["first_order_at"], row.get("last_order_at"), n_days),  # type: ignore[arg-type]
                "dirty": True,
                "updated_at": now,
            }
        )
    upsert(session, CustomerStats, rows, ["customer_id"], _FIELDS)
