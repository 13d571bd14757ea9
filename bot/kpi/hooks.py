"""What the rest of the code calls to keep the campaign facts current, in its transaction.

- the order intake, after inserting orders: ``orders_added``
- the refund intake, after inserting refunds: ``refunds_added``
- an ERP correction of orders or refunds: ``order_snapshot`` before, ``orders_changed`` after
- the campaign intake, after creating or changing campaigns: ``campaigns_changed``
- an identity merge, after moving the source's rows: ``customers_merged``
- a repair (or a bulk load that bypassed the intake): ``rebuild``
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kpi import allocation, attribution, touches
from bot.kpi.campaigns import CampaignIndex
from bot.kpi.config import for_session
from bot.kpi.facts import (
    CellDeltas,
    chunks,
    order_cell,
    refund_cost,
    refund_stats,
    select_orders,
)
from storage.models import Order, Refund


def orders_added(session: Session, order_ids: Sequence[int]) -> None:
    attribution.on_orders(session, order_ids)
    touches.catch_up(session)


def order_snapshot(session: Session, order_ids: Iterable[int]) -> attribution.Snapshot:
    """Take before rewriting orders (or their refunds); hand to ``orders_changed`` after."""
    return attribution.snapshot(session, order_ids)


def orders_changed(session: Session, before: attribution.Snapshot) -> None:
    attribution.on_orders_changed(session, before)


def refunds_added(session: Session, refund_ids: Sequence[int]) -> None:
    """Fold freshly inserted refunds into their orders' campaign cells and customers."""
    config = for_session(session)
    rows = [
        r
        for part in chunks(sorted(refund_ids))
        for r in session.execute(
            select(Refund.order_id, Refund.amount_cents, Refund.units).where(Refund.id.in_(part))
        )
    ]
    fresh: dict[int, tuple[int, int, int]] = {}
    for order_id, amount, units in rows:
        n, cents, u = fresh.get(order_id, (0, 0, 0))
        fresh[order_id] = (n + 1, cents + amount, u + units)
    orders = [
        o
        for part in chunks(sorted(fresh))
        for o in select_orders(session, Order.id.in_(part), Order.campaign_id.is_not(None))
    ]
    if not orders:
        return
    totals = refund_stats(session, (o.id for o in orders))
    deltas = CellDeltas()
    for o in orders:
        n, cents, units = fresh[o.id]
        total_units = totals.get(o.id, (0, 0))[1]
        # The cost that came back is a function of everything refunded so far: add the step.
        after = refund_cost(o.cost_cents, o.units, o.paid_cents, o.refunded_cents, total_units)
        before = refund_cost(
            o.cost_cents, o.units, o.paid_cents, o.refunded_cents - cents, total_units - units
        )
        deltas.add(
            order_cell(o, config.day(o.ordered_at)),
            {
                "refunds": n,
                "refund_cents": cents,
                "refund_units": units,
                "refund_cost_cents": after - before,
            },
        )
    allocation.refresh(
        session, {o.customer_id for o in orders}, config, CampaignIndex.load(session), deltas
    )
    deltas.flush(session)


def campaigns_changed(session: Session, campaign_ids: Iterable[int]) -> None:
    attribution.campaign_changed(session, campaign_ids)


def customers_merged(session: Session, customer_ids: Iterable[int]) -> None:
    """Both customers of a merge: the source's counts go, the survivor's are recomputed."""
    deltas = CellDeltas()
    allocation.refresh(
        session, customer_ids, for_session(session), CampaignIndex.load(session), deltas
    )
    deltas.flush(session)


def rebuild(session: Session, codes: Iterable[str] | None = None) -> int:
    """Recompute the facts of these campaigns (all when None) from their credited orders;
    returns how many. Attribution is left as stored: ``campaigns_changed`` re-credits."""
    index = CampaignIndex.load(session)
    wanted = None if codes is None else set(codes)
    done = 0
    for campaign in index:
        if wanted is None or campaign.code in wanted:
            allocation.rebuild_campaign(session, campaign.id, for_session(session), index)
            done += 1
    return done
