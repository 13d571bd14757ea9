"""``scrm doctor``: find, and on request repair, what older versions may have left behind.

Two kinds of damage, both from merges that raced other writers before merges locked their
customers:

- rows still attached to a merged-away customer (orders, tags, guide relations, tasks,
  notes, identities, campaign participation, stats), which no scope shows: repaired by
  moving them to the survivor, as the merge would have;
- per-customer stats that do not add up to the customer's orders (count, spend, refunds,
  first and last order): repaired by rebuilding those customers' stats from their orders.

``diagnose`` only reads. ``repair`` writes in the caller's unit of work and reports what it
changed; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot.services import stats
from bot.services.merging import move_leftovers
from bot.services.survivors import canonical_many, lock_survivors
from storage.models import (
    CampaignParticipant,
    Customer,
    CustomerIdentity,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    Order,
    Task,
)

# What can be left on a merged customer, in the words the report uses.
OWNED: dict[str, Any] = {
    "orders": Order,
    "tags": CustomerTag,
    "guide relations": GuideRelation,
    "tasks": Task,
    "notes and interactions": Interaction,
    "identities": CustomerIdentity,
    "campaign participations": CampaignParticipant,
    "stats rows": CustomerStats,
}

_LABELS = {model.__tablename__: kind for kind, model in OWNED.items()}


@dataclass
class Findings:
    # kind of row -> merged customer id -> how many rows it still holds
    leftovers: dict[str, dict[int, int]] = field(default_factory=dict)
    # customers whose stats disagree with their orders -> what disagrees
    bad_stats: dict[int, list[str]] = field(default_factory=dict)

    @property
    def merged_with_leftovers(self) -> set[int]:
        return {cid for per in self.leftovers.values() for cid in per}

    @property
    def clean(self) -> bool:
        return not self.leftovers and not self.bad_stats

    def lines(self) -> list[str]:
        out = []
        for kind, per in self.leftovers.items():
            out.append(
                f"{sum(per.values())} {kind} on {len(per)} merged customers "
                f"(e.g. customer {min(per)})"
            )
        if self.bad_stats:
            sample = sorted(self.bad_stats)[:3]
            detail = "; ".join(f"customer {c}: {', '.join(self.bad_stats[c])}" for c in sample)
            out.append(
                f"{len(self.bad_stats)} customers whose stats do not add up to their orders "
                f"({detail})"
            )
        return out


def diagnose(session: Session) -> Findings:
    found = Findings()
    merged = Customer.merged_into.is_not(None)
    for kind, model in OWNED.items():
        rows = session.execute(
            select(model.customer_id, func.count())
            .join(Customer, Customer.id == model.customer_id)
            .where(merged)
            .group_by(model.customer_id)
        ).all()
        if rows:
            found.leftovers[kind] = {cid: n for cid, n in rows}
    found.bad_stats = _bad_stats(session)
    return found


def _bad_stats(session: Session) -> dict[int, list[str]]:
    agg = (
        select(
            Order.customer_id.label("cid"),
            func.count().label("n"),
            func.sum(Order.paid_cents).label("spend"),
            func.sum(Order.refunded_cents).label("refunds"),
            func.min(Order.ordered_at).label("first"),
            func.max(Order.ordered_at).label("last"),
        )
        .group_by(Order.customer_id)
        .subquery()
    )
    st = CustomerStats
    n = func.coalesce(agg.c.n, 0)
    spend = func.coalesce(agg.c.spend, 0)
    refunds = func.coalesce(agg.c.refunds, 0)
    q = (
        select(
            Customer.id,
            func.coalesce(st.order_count, 0),
            n,
            func.coalesce(st.spend_cents, 0),
            spend,
            func.coalesce(st.refund_cents, 0),
            refunds,
            st.first_order_at,
            agg.c.first,
            st.last_order_at,
            agg.c.last,
        )
        .select_from(Customer)
        .outerjoin(st, st.customer_id == Customer.id)
        .outerjoin(agg, agg.c.cid == Customer.id)
        .where(Customer.merged_into.is_(None))
        .where(
            or_(
                func.coalesce(st.order_count, 0) != n,
                func.coalesce(st.spend_cents, 0) != spend,
                func.coalesce(st.refund_cents, 0) != refunds,
                # Timestamps are compared only where both sides exist; counts catch the rest.
                st.first_order_at != agg.c.first,
                st.last_order_at != agg.c.last,
            )
        )
        .order_by(Customer.id)
    )
    out: dict[int, list[str]] = {}
    for cid, have_n, want_n, have_s, want_s, have_r, want_r, f1, f2, l1, l2 in session.execute(q):
        why = []
        if have_n != want_n:
            why.append(f"{have_n} orders counted, {want_n} on file")
        if have_s != want_s:
            why.append(f"spend {have_s} cents counted, {want_s} on file")
        if have_r != want_r:
            why.append(f"refunds {have_r} cents counted, {want_r} on file")
        if not why and (f1 != f2 or l1 != l2):
            why.append("first or last order date differs")
        if why:  # a timestamp differing only in how the database returns it is no damage
            out[cid] = why
    return out


@dataclass
class Repairs:
    moved: dict[str, int] = field(default_factory=dict)  # kind -> rows moved to survivors
    customers_moved_from: int = 0
    stats_rebuilt: int = 0

    def lines(self) -> list[str]:
        out = []
        if self.customers_moved_from:
            what = ", ".join(f"{n} {kind}" for kind, n in self.moved.items() if n) or "stale rows"
            out.append(
                f"moved {what} from {self.customers_moved_from} merged customers to their survivors"
            )
        if self.stats_rebuilt:
            out.append(f"rebuilt the stats of {self.stats_rebuilt} customers from their orders")
        return out


def repair(session: Session, found: Findings) -> Repairs:
    done = Repairs()
    sources = sorted(found.merged_with_leftovers)
    survivors = canonical_many(session, sources)
    touched: set[int] = set()
    for source in sources:
        target = survivors.get(source)
        if target is None or target == source:
            continue  # a merge cycle: left for a person to look at (never made by scrm)
        lock_survivors(session, [target])
        for table, n in move_leftovers(session, source, target).items():
            kind = _LABELS.get(table, table)
            done.moved[kind] = done.moved.get(kind, 0) + n
        done.customers_moved_from += 1
        touched.add(target)
    rebuild = (set(found.bad_stats) | touched) - set(sources)
    if rebuild:
        lock_survivors(session, rebuild)
        stats.recompute(session, rebuild)
        done.stats_rebuilt = len(set(found.bad_stats) - set(sources) | touched)
    return done
