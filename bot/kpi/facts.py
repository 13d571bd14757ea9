"""Order sums per campaign cell: what an order (and its refunds) adds to ``campaign_days``.

Order facts (sales, units, refunds …) are pure sums: an order adds its figures to the cell
of its campaign, local day, store and guide; a refund adds to its order's cell (refunds
follow their order); an order that moves to another campaign is subtracted from one cell and
added to another. Customer counts live in ``allocation``.

Everything here reads orders by id, customer or campaign (indexed), never the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.kpi.config import KpiConfig
from storage.models import (
    CampaignDay,
    Order,
    Refund,
)
from storage.models.kpi import DAY_MEASURES, NONE

Cell = tuple[int, date, int, int]  # campaign_id, local day, store_id, guide_id
CHUNK = 900

ORDER_COLS = (
    Order.id,
    Order.customer_id,
    Order.campaign_id,
    Order.attribution,
    Order.ordered_at,
    Order.store_id,
    Order.guide_id,
    Order.units,
    Order.paid_cents,
    Order.cost_cents,
    Order.discount_cents,
    Order.coupon_code,
    Order.refunded_cents,
)


class OrderFact(NamedTuple):
    """An order as the facts see it (``ORDER_COLS``, in that order)."""

    id: int
    customer_id: int
    campaign_id: int | None
    attribution: str | None
    ordered_at: datetime
    store_id: int | None
    guide_id: int | None
    units: int
    paid_cents: int
    cost_cents: int
    discount_cents: int
    coupon_code: str | None
    refunded_cents: int


def select_orders(session: Session, *where: Any) -> list[OrderFact]:
    return [OrderFact._make(r) for r in session.execute(select(*ORDER_COLS).where(*where))]


def chunks(ids: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def refund_cost(cost: int, units: int, paid: int, refunded: int, refunded_units: int) -> int:
    """The cost of goods that came back. A full refund returns all of it; a partial refund
    returns the cost of the units it names; a refund naming no units is a price adjustment
    and the goods stay sold (docs/kpis.md, gross profit)."""
    if paid > 0 and refunded >= paid:
        return cost
    if units > 0 and refunded_units > 0:
        return min(cost, cost * refunded_units // units)
    return 0


class CellDeltas:
    """Additions to ``campaign_days``, summed in memory and written in one statement."""

    def __init__(self) -> None:
        self._rows: dict[Cell, dict[str, int]] = {}

    def add(self, cell: Cell, measures: Mapping[str, int], sign: int = 1) -> None:
        row = self._rows.setdefault(cell, dict.fromkeys(DAY_MEASURES, 0))
        for name, value in measures.items():
            row[name] += sign * value

    def flush(self, session: Session) -> None:
        rows = [
            {"campaign_id": c, "day": d, "store_id": s, "guide_id": g, **m}
            for (c, d, s, g), m in sorted(self._rows.items())  # one lock order: no deadlocks
            if any(m.values())
        ]
        self._rows.clear()
        if not rows:
            return
        table: Table = CampaignDay.__table__  # type: ignore[assignment]
        dialect = session.get_bind().dialect.name
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["campaign_id", "day", "store_id", "guide_id"],
            set_={m: table.c[m] + stmt.excluded[m] for m in DAY_MEASURES},
        )
        for part in chunks(rows, 2000):
            session.execute(stmt, list(part))


def order_cell(o: Any, day: date) -> Cell:
    return (o.campaign_id, day, o.store_id or NONE, o.guide_id or NONE)


def order_measures(
    o: Any, coupon: tuple[int, int] | None, refunds: tuple[int, int]
) -> dict[str, int]:
    """What one credited order adds to its cell. ``coupon`` is (campaign, value) of its
    coupon code, ``refunds`` (count, units) of its refunds so far."""
    redeemed = coupon is not None and coupon[0] == o.campaign_id
    n_refunds, refunded_units = refunds
    return {
        "orders": 1,
        "units": o.units,
        "paid_cents": o.paid_cents,
        "cost_cents": o.cost_cents,
        "discount_cents": o.discount_cents,
        "coupons": int(redeemed),
        "coupon_cents": coupon[1] if redeemed and coupon else 0,
        "explicit_orders": int(o.attribution == "explicit"),
        "task_orders": int(o.attribution == "task"),
        "window_orders": int(o.attribution == "window"),
        "refunds": n_refunds,
        "refund_cents": o.refunded_cents,
        "refund_units": refunded_units,
        "refund_cost_cents": refund_cost(
            o.cost_cents, o.units, o.paid_cents, o.refunded_cents, refunded_units
        ),
    }


def refund_stats(session: Session, order_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """(count, units) of the refunds of each order that has any."""
    ids = sorted(set(order_ids))
    out: dict[int, tuple[int, int]] = {}
    for part in chunks(ids):
        q = (
            select(Refund.order_id, func.count(), func.coalesce(func.sum(Refund.units), 0))
            .where(Refund.order_id.in_(part))
            .group_by(Refund.order_id)
        )
        out.update({oid: (int(n), int(u)) for oid, n, u in session.execute(q)})
    return out


def add_orders(
    deltas: CellDeltas,
    orders: Iterable[Any],
    coupons: Mapping[str, tuple[int, int]],
    refunds: Mapping[int, tuple[int, int]],
    config: KpiConfig,
    sign: int = 1,
) -> None:
    for o in orders:
        if o.campaign_id is None:
            continue
        coupon = coupons.get(o.coupon_code) if o.coupon_code else None
        deltas.add(
            order_cell(o, config.day(o.ordered_at)),
            order_measures(o, coupon, refunds.get(o.id, (0, 0))),
            sign,
        )
