"""Which campaign an order is credited to — at most one — and the hooks that keep it so.

The rules, first match wins (docs/kpis.md):

1. ``coupon``: the order's coupon code belongs to a campaign. A redeemed coupon is the
   strongest evidence there is, so it beats everything, the store scope included.
2. ``explicit``: the source system named the campaign on the order (intake field
   ``campaign``). The ERP knows its own promotions better than any rule of ours.
3. ``task``: a guide's task for this customer was done during a campaign, in the order's
   store scope, at most ``task_attribution_days`` before the order.
4. ``window``: the customer is targeted by a campaign running when they ordered, in the
   order's store scope.

Between several campaigns one rule allows, the one targeting the customer wins, then the one
that started last (the more specific promotion usually starts inside the broader one).

The same pass marks task conversions: a done task whose customer orders within the window
gets ``converted_order_id`` (the team report reads it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.kpi import targets
from bot.kpi.allocation import refresh
from bot.kpi.campaigns import CampaignIndex, CampaignInfo
from bot.kpi.config import KpiConfig, for_session
from bot.kpi.facts import (
    CellDeltas,
    OrderFact,
    add_orders,
    chunks,
    refund_stats,
    select_orders,
)
from storage.models import CampaignAllocation, CampaignParticipant, Order, Task

RULES = ("coupon", "explicit", "task", "window")


@dataclass
class Evidence:
    """What the rules look at for one customer."""

    targeted: set[int] = field(default_factory=set)  # campaigns targeting them
    tasks_done: list[datetime] = field(default_factory=list)


def choose(
    order: Any, campaigns: CampaignIndex, evidence: Evidence, task_days: int
) -> tuple[int | None, str | None]:
    coupon = campaigns.coupon(order.coupon_code)
    if coupon is not None:
        return coupon[0], "coupon"
    if order.attribution == "explicit" and order.campaign_id is not None:
        return order.campaign_id, "explicit"
    at, store = order.ordered_at, order.store_id
    if evidence.tasks_done:
        window = timedelta(days=task_days)
        by_task = [
            c
            for c in campaigns
            if c.in_scope(store)
            and any(c.covers(t) and t <= at <= t + window for t in evidence.tasks_done)
        ]
        if by_task:
            return _pick(by_task, evidence.targeted), "task"
    by_window = [
        c
        for c in (campaigns.get(cid) for cid in evidence.targeted)
        if c is not None and c.covers(at) and c.in_scope(store)
    ]
    if by_window:
        return _pick(by_window, evidence.targeted), "window"
    return None, None


def _pick(candidates: list[CampaignInfo], targeted: set[int]) -> int:
    return max(candidates, key=lambda c: (c.id in targeted, c.starts_at, c.id)).id


def _done_tasks(session: Session, orders: Sequence[Any], task_days: int) -> list[Any]:
    if not orders:
        return []
    earliest = min(o.ordered_at for o in orders) - timedelta(days=task_days)
    latest = max(o.ordered_at for o in orders)
    ids = sorted({o.customer_id for o in orders})
    q = select(Task.id, Task.customer_id, Task.done_at, Task.converted_order_id).where(
        Task.status == "done", Task.done_at >= earliest, Task.done_at <= latest
    )
    return [t for part in chunks(ids) for t in session.execute(q.where(Task.customer_id.in_(part)))]


def _evidence(session: Session, orders: Sequence[Any], tasks: Iterable[Any]) -> dict[int, Evidence]:
    out: dict[int, Evidence] = defaultdict(Evidence)
    ids = sorted({o.customer_id for o in orders})
    q = select(CampaignParticipant.customer_id, CampaignParticipant.campaign_id).where(
        CampaignParticipant.targeted.is_(True)
    )
    for part in chunks(ids):
        for cid, campaign_id in session.execute(q.where(CampaignParticipant.customer_id.in_(part))):
            out[cid].targeted.add(campaign_id)
    for t in tasks:
        out[t.customer_id].tasks_done.append(t.done_at)
    return out


def mark_conversions(
    session: Session, orders: Sequence[Any], tasks: Iterable[Any], task_days: int
) -> None:
    """A done task not yet converted is converted by the customer's first order within
    ``task_days`` after it was done."""
    window = timedelta(days=task_days)
    by_customer: dict[int, list[Any]] = defaultdict(list)
    for o in orders:
        by_customer[o.customer_id].append(o)
    updates = []
    for t in tasks:
        if t.converted_order_id is not None:
            continue
        hits = [
            o
            for o in by_customer.get(t.customer_id, ())
            if t.done_at <= o.ordered_at <= t.done_at + window
        ]
        if hits:
            first = min(hits, key=lambda o: (o.ordered_at, o.id))
            updates.append(
                {"id": t.id, "converted_order_id": first.id, "converted_at": first.ordered_at}
            )
    if updates:
        session.execute(update(Task), updates)


def _load(session: Session, order_ids: Iterable[int]) -> list[OrderFact]:
    return [
        o
        for part in chunks(sorted(set(order_ids)))
        for o in select_orders(session, Order.id.in_(part))
    ]


def _decide(
    session: Session,
    orders: Sequence[Any],
    campaigns: CampaignIndex,
    config: KpiConfig,
    tasks: Sequence[Any],
) -> list[tuple[Any, Any]]:
    """(order as stored, order as it should be) for each order whose credit changes."""
    evidence = _evidence(session, orders, tasks)
    changed = []
    for o in orders:
        campaign_id, rule = choose(o, campaigns, evidence[o.customer_id], config.task_days)
        if (campaign_id, rule) != (o.campaign_id, o.attribution):
            changed.append((o, o._replace(campaign_id=campaign_id, attribution=rule)))
    if changed:
        session.execute(
            update(Order),
            [
                {"id": new.id, "campaign_id": new.campaign_id, "attribution": new.attribution}
                for _, new in changed
            ],
        )
    return changed


def on_orders(session: Session, order_ids: Sequence[int]) -> None:
    """Credit freshly inserted orders, mark the task conversions they make, and fold them
    into the campaign facts. Called by the order intake in its transaction."""
    if not order_ids:
        return
    config = for_session(session)
    orders = _load(session, order_ids)
    tasks = _done_tasks(session, orders, config.task_days)
    mark_conversions(session, orders, tasks, config.task_days)
    campaigns = CampaignIndex.load(session)
    if not campaigns:
        return
    joined = targets.join(session, campaigns, orders)
    changed = dict((old.id, new) for old, new in _decide(session, orders, campaigns, config, tasks))
    credited = [changed.get(o.id, o) for o in orders]
    deltas = CellDeltas()
    add_orders(deltas, credited, campaigns.coupons, {}, config)  # new orders: no refunds yet
    customers = {o.customer_id for o in credited if o.campaign_id is not None} | joined
    customers |= _predating(session, [o for o in credited if o.campaign_id is None], config)
    refresh(session, customers, config, campaigns, deltas)
    deltas.flush(session)


def _predating(session: Session, orders: Sequence[OrderFact], config: KpiConfig) -> set[int]:
    """Customers an uncredited order makes returning rather than new buyers somewhere: it is
    not later than the day of their first credited order in a campaign."""
    earliest: dict[int, datetime] = {}
    for o in orders:
        earliest[o.customer_id] = min(o.ordered_at, earliest.get(o.customer_id, o.ordered_at))
    found: set[int] = set()
    a = CampaignAllocation
    for part in chunks(sorted(earliest)):
        q = select(a.customer_id, a.buy_day).where(a.customer_id.in_(part), a.new_buyer.is_(True))
        for cid, day in session.execute(q):
            if day is not None and config.day(earliest[cid]) <= day:
                found.add(cid)
    return found


def campaign_changed(session: Session, campaign_ids: Iterable[int]) -> None:
    """Re-credit the orders a created or changed campaign may win or lose, and bring the
    facts of every campaign involved up to date."""
    config = for_session(session)
    campaigns = CampaignIndex.load(session)
    wanted = [c for c in (campaigns.get(i) for i in set(campaign_ids)) if c is not None]
    if not wanted:
        return
    customers: set[int] = set()
    order_ids: set[int] = set()
    for c in wanted:
        customers |= targets.sync(session, c)
        order_ids.update(session.scalars(select(Order.id).where(Order.campaign_id == c.id)))
        codes = sorted(campaigns.coupons_of(c.id))
        for part in chunks(codes):
            order_ids.update(session.scalars(select(Order.id).where(Order.coupon_code.in_(part))))
        # orders a rule could credit: from the window's start to N days after its end
        members = sorted(set(targets.matching(session, c)) | _targeted(session, c.id) | customers)
        until = c.ends_at + timedelta(days=config.task_days)
        for part in chunks(members):
            order_ids.update(
                session.scalars(
                    select(Order.id).where(
                        Order.customer_id.in_(part),
                        Order.ordered_at >= c.starts_at,
                        Order.ordered_at <= until,
                    )
                )
            )
        # targets counted on the first day: a moved start moves them
        customers.update(
            session.scalars(
                select(CampaignAllocation.customer_id).where(
                    CampaignAllocation.campaign_id == c.id,
                    CampaignAllocation.registered.is_(False),
                    CampaignAllocation.targeted.is_(True),
                    CampaignAllocation.reg_day != config.day(c.starts_at),
                )
            )
        )
    orders = _load(session, sorted(order_ids))
    tasks = _done_tasks(session, orders, config.task_days)
    changed = _decide(session, orders, campaigns, config, tasks)
    deltas = CellDeltas()
    refunds = refund_stats(session, (old.id for old, _ in changed if old.refunded_cents))
    add_orders(deltas, [old for old, _ in changed], campaigns.coupons, refunds, config, sign=-1)
    add_orders(deltas, [new for _, new in changed], campaigns.coupons, refunds, config)
    customers |= {old.customer_id for old, _ in changed}
    refresh(session, customers, config, campaigns, deltas)
    deltas.flush(session)


def _targeted(session: Session, campaign_id: int) -> set[int]:
    return set(
        session.scalars(
            select(CampaignParticipant.customer_id).where(
                CampaignParticipant.campaign_id == campaign_id,
                CampaignParticipant.targeted.is_(True),
            )
        )
    )


@dataclass(frozen=True)
class Snapshot:
    """Orders as the facts counted them, taken before a correction rewrites them."""

    orders: list[OrderFact]
    refunds: dict[int, tuple[int, int]]


def snapshot(session: Session, order_ids: Iterable[int]) -> Snapshot:
    orders = _load(session, order_ids)
    return Snapshot(orders, refund_stats(session, (o.id for o in orders)))


def on_orders_changed(session: Session, before: Snapshot) -> None:
    """An ERP corrected these orders (or their refunds): take out what they counted before,
    credit them again and count them as they are now. Called in the correcting transaction."""
    if not before.orders:
        return
    config = for_session(session)
    orders = _load(session, [o.id for o in before.orders])
    tasks = _done_tasks(session, orders, config.task_days)
    mark_conversions(session, orders, tasks, config.task_days)
    campaigns = CampaignIndex.load(session)
    if not campaigns:
        return
    joined = targets.join(session, campaigns, orders)
    changed = dict((old.id, new) for old, new in _decide(session, orders, campaigns, config, tasks))
    credited = [changed.get(o.id, o) for o in orders]
    deltas = CellDeltas()
    add_orders(deltas, before.orders, campaigns.coupons, before.refunds, config, sign=-1)
    now = refund_stats(session, (o.id for o in credited))
    add_orders(deltas, credited, campaigns.coupons, now, config)
    customers = {o.customer_id for o in before.orders} | {o.customer_id for o in credited}
    customers |= joined | _predating(
        session, [o for o in credited if o.campaign_id is None], config
    )
    refresh(session, customers, config, campaigns, deltas)
    deltas.flush(session)
