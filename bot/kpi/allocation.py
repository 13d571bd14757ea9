"""Customer counts per campaign: who is a buyer, a repeater, a refunder, registered or
targeted, and in which cell of ``campaign_days`` they are counted.

A customer is counted once per campaign: as a buyer in the cell (day, store, guide) of their
first credited order, as registered or targeted in the cell of their registration (home
store and guide). ``refresh`` derives that state again from the customer's credited orders
and registration, compares it with their ``campaign_allocations`` row and moves only the
difference, so a count is never added twice whatever the order of events (a second order, a
refund, a back-dated order, a merge, a re-attribution).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.kpi.campaigns import CampaignIndex
from bot.kpi.config import KpiConfig
from bot.kpi.facts import (
    Cell,
    CellDeltas,
    OrderFact,
    add_orders,
    chunks,
    refund_stats,
    select_orders,
)
from storage.models import (
    CampaignAllocation,
    CampaignDay,
    CampaignParticipant,
    Customer,
    CustomerStats,
    Interaction,
    Order,
    Task,
)
from storage.models.kpi import NONE
from storage.upsert import insert_ignore, upsert

_PARTICIPANT_FACTS = (
    "orders",
    "units",
    "paid_cents",
    "cost_cents",
    "refund_cents",
    "refunds",
    "first_purchase_at",
)


@dataclass(frozen=True)
class Allocation:
    """Where one customer is counted in one campaign, and as what (``campaign_allocations``).

    The funnel (registered, targeted, touched, targets who purchased) is counted in the
    registration cell, so each cell is one cohort and its funnel never exceeds 100%; buyer
    counts in the cell of the first credited order.
    """

    reg_day: date | None = None
    reg_store_id: int = NONE
    reg_guide_id: int = NONE
    registered: bool = False
    targeted: bool = False
    touched: bool = False
    targeted_buyer: bool = False
    targeted_repeat_buyer: bool = False
    buy_day: date | None = None
    buy_store_id: int = NONE
    buy_guide_id: int = NONE
    buyer: bool = False
    new_buyer: bool = False
    repeat_buyer: bool = False
    refund_buyer: bool = False

    def cells(self, campaign_id: int) -> Iterator[tuple[Cell, dict[str, int]]]:
        if self.reg_day is not None and (self.registered or self.targeted):
            cell = (campaign_id, self.reg_day, self.reg_store_id, self.reg_guide_id)
            yield (
                cell,
                {
                    "registered": int(self.registered),
                    "targeted": int(self.targeted),
                    "touched": int(self.touched),
                    "targeted_buyers": int(self.targeted_buyer),
                    "targeted_repeat_buyers": int(self.targeted_repeat_buyer),
                },
            )
        if self.buyer and self.buy_day is not None:
            cell = (campaign_id, self.buy_day, self.buy_store_id, self.buy_guide_id)
            yield (
                cell,
                {
                    "buyers": 1,
                    "new_buyers": int(self.new_buyer),
                    "repeat_buyers": int(self.repeat_buyer),
                    "refund_buyers": int(self.refund_buyer),
                },
            )


_ALLOC_FIELDS = [f.name for f in fields(Allocation)]
_EMPTY = {f.name: f.default for f in fields(Allocation)}


@dataclass
class _Purchases:
    orders: int = 0
    units: int = 0
    paid_cents: int = 0
    cost_cents: int = 0
    refund_cents: int = 0
    refunds: int = 0
    first_purchase_at: datetime | None = None
    first: OrderFact | None = None  # the first credited order (earliest, then lowest id)


Pair = tuple[int, int]  # campaign_id, customer_id


def _purchases(
    orders: Iterable[OrderFact], refunds: Mapping[int, tuple[int, int]]
) -> dict[Pair, _Purchases]:
    out: dict[Pair, _Purchases] = defaultdict(_Purchases)
    for o in orders:
        if o.campaign_id is None:
            continue
        p = out[(o.campaign_id, o.customer_id)]
        p.orders += 1
        p.units += o.units
        p.paid_cents += o.paid_cents
        p.cost_cents += o.cost_cents
        p.refund_cents += o.refunded_cents
        p.refunds += refunds.get(o.id, (0, 0))[0]
        if p.first is None or (o.ordered_at, o.id) < (p.first.ordered_at, p.first.id):
            p.first, p.first_purchase_at = o, o.ordered_at
    return out


def refresh(
    session: Session,
    customer_ids: Iterable[int],
    config: KpiConfig,
    campaigns: CampaignIndex,
    deltas: CellDeltas,
) -> None:
    """Recompute participant facts and counts of these customers, in every campaign."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    orders = [
        o
        for part in chunks(ids)
        for o in select_orders(session, Order.customer_id.in_(part), Order.campaign_id.is_not(None))
    ]
    refunds = refund_stats(session, (o.id for o in orders if o.refunded_cents))
    _apply(session, ids, orders, refunds, config, campaigns, deltas, old_known=True)


def rebuild_campaign(
    session: Session, campaign_id: int, config: KpiConfig, campaigns: CampaignIndex
) -> None:
    """Throw away one campaign's facts and compute them again from its credited orders
    (a repair, and how a bulk load gets its facts)."""
    session.execute(delete(CampaignDay).where(CampaignDay.campaign_id == campaign_id))
    session.execute(delete(CampaignAllocation).where(CampaignAllocation.campaign_id == campaign_id))
    session.execute(
        update(CampaignParticipant)
        .where(CampaignParticipant.campaign_id == campaign_id)
        .values(
            orders=0,
            units=0,
            paid_cents=0,
            cost_cents=0,
            refund_cents=0,
            refunds=0,
            first_purchase_at=None,
        )
    )
    orders = select_orders(session, Order.campaign_id == campaign_id)
    refunds = refund_stats(session, (o.id for o in orders if o.refunded_cents))
    deltas = CellDeltas()
    add_orders(deltas, orders, campaigns.coupons_of(campaign_id), refunds, config)
    members = set(
        session.scalars(
            select(CampaignParticipant.customer_id).where(
                CampaignParticipant.campaign_id == campaign_id
            )
        )
    )
    ids = sorted(members | {o.customer_id for o in orders})
    _apply(
        session,
        ids,
        orders,
        refunds,
        config,
        campaigns,
        deltas,
        old_known=False,
        only=campaign_id,
    )
    deltas.flush(session)


def _apply(
    session: Session,
    ids: Sequence[int],
    orders: Sequence[OrderFact],
    refunds: Mapping[int, tuple[int, int]],
    config: KpiConfig,
    campaigns: CampaignIndex,
    deltas: CellDeltas,
    *,
    old_known: bool,
    only: int | None = None,
) -> None:
    bought = _purchases(orders, refunds)
    parts: dict[Pair, Any] = {}
    first_ever: dict[int, datetime | None] = {}
    home: dict[int, tuple[int, int]] = {}
    p_cols = (
        CampaignParticipant.campaign_id,
        CampaignParticipant.customer_id,
        CampaignParticipant.registered_at,
        CampaignParticipant.targeted,
        *(getattr(CampaignParticipant, f) for f in _PARTICIPANT_FACTS),
    )
    touches: dict[int, list[datetime]] = defaultdict(list)
    for part in chunks(ids):
        q = select(*p_cols).where(CampaignParticipant.customer_id.in_(part))
        if only is not None:
            q = q.where(CampaignParticipant.campaign_id == only)
        rows = {(r.campaign_id, r.customer_id): r for r in session.execute(q)}
        parts.update(rows)
        _touches(session, sorted({k for (_, k), r in rows.items() if r.targeted}), touches)
        first_ever.update(
            (cid, at)
            for cid, at in session.execute(
                select(CustomerStats.customer_id, CustomerStats.first_order_at).where(
                    CustomerStats.customer_id.in_(part)
                )
            )
        )
        home.update(
            (cid, (store or NONE, guide or NONE))
            for cid, store, guide in session.execute(
                select(Customer.id, Customer.store_id, Customer.guide_id).where(
                    Customer.id.in_(part)
                )
            )
        )
    pairs = set(parts) | set(bought)
    old: dict[Pair, Allocation] = {}
    if old_known and ids:
        # Create missing rows first and lock them all, so that two transactions touching the
        # same customer queue here instead of both counting them.
        insert_ignore(
            session,
            CampaignAllocation,
            [{"campaign_id": c, "customer_id": k, **_EMPTY} for c, k in sorted(pairs)],
            ["campaign_id", "customer_id"],
        )
        cols = [
            getattr(CampaignAllocation, f) for f in ("campaign_id", "customer_id", *_ALLOC_FIELDS)
        ]
        for part in chunks(ids):
            q = select(*cols).where(CampaignAllocation.customer_id.in_(part)).with_for_update()
            for r in session.execute(q):
                old[(r[0], r[1])] = Allocation(*r[2:])
    # A row left from before a merge or a re-attribution is counted down to nothing.
    pairs |= set(old)

    fact_rows: list[dict[str, Any]] = []
    alloc_rows: list[dict[str, Any]] = []
    for pair in sorted(pairs):
        campaign_id, customer_id = pair
        info = campaigns.get(campaign_id)
        if info is None:
            continue
        p = parts.get(pair)
        b = bought.get(pair, _Purchases())
        facts = {f: getattr(b, f) for f in _PARTICIPANT_FACTS}
        if (p is None and b.orders) or (
            p is not None and any(getattr(p, f) != v for f, v in facts.items())
        ):
            fact_rows.append({"campaign_id": campaign_id, "customer_id": customer_id, **facts})
        registered_at = p.registered_at if p is not None else None
        targeted = p is not None and bool(p.targeted)
        store, guide = home.get(customer_id, (NONE, NONE))
        # A target who never registered counts on the campaign's first day.
        reg_at = registered_at or (info.starts_at if targeted else None)
        bought_twice = b.orders >= 2
        new = Allocation(
            reg_day=config.day(reg_at) if reg_at is not None else None,
            reg_store_id=store,
            reg_guide_id=guide,
            registered=registered_at is not None,
            targeted=targeted,
            touched=targeted and any(info.covers(t) for t in touches.get(customer_id, ())),
            targeted_buyer=targeted and b.orders > 0,
            targeted_repeat_buyer=targeted and bought_twice,
        )
        if b.first is not None:
            earlier = first_ever.get(customer_id)
            new = replace(
                new,
                buy_day=config.day(b.first.ordered_at),
                buy_store_id=b.first.store_id or NONE,
                buy_guide_id=b.first.guide_id or NONE,
                buyer=True,
                new_buyer=not (earlier is not None and earlier < b.first.ordered_at),
                repeat_buyer=bought_twice,
                refund_buyer=b.refunds > 0,
            )
        before = old.get(pair, Allocation())
        if new == before and (old_known or new == Allocation()):
            continue
        for cell, measures in before.cells(campaign_id):
            deltas.add(cell, measures, -1)
        for cell, measures in new.cells(campaign_id):
            deltas.add(cell, measures)
        alloc_rows.append({"campaign_id": campaign_id, "customer_id": customer_id, **_row(new)})

    upsert(
        session,
        CampaignParticipant,
        [{**r, "targeted": False} for r in fact_rows],
        ["campaign_id", "customer_id"],
        list(_PARTICIPANT_FACTS),
    )
    upsert(session, CampaignAllocation, alloc_rows, ["campaign_id", "customer_id"], _ALLOC_FIELDS)


def _touches(session: Session, ids: Sequence[int], out: dict[int, list[datetime]]) -> None:
    """When guides reached these customers: follow-ups logged by staff and tasks done (the
    ``done`` command logs a follow-up too; a task done some other way still counts)."""
    if not ids:
        return
    notes = select(Interaction.customer_id, Interaction.occurred_at).where(
        Interaction.customer_id.in_(ids), Interaction.staff_id.is_not(None)
    )
    tasks = select(Task.customer_id, Task.done_at).where(
        Task.customer_id.in_(ids), Task.status == "done", Task.done_at.is_not(None)
    )
    for q in (notes, tasks):
        for cid, at in session.execute(q):
            if at is not None:
                out[cid].append(at)


def _row(a: Allocation) -> dict[str, Any]:
    return {f: getattr(a, f) for f in _ALLOC_FIELDS}  # dataclasses.astuple deep-copies: slow
