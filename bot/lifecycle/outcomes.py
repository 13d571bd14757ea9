"""Task outcomes per guide: completion, and conversion against the hold-out.

Conversion of a done task: its customer ordered within ``task_attribution_days`` after it
was done (``converted_order_id``, set as orders land). Hold-out conversion: a held-out
customer ordered within the same number of days after the day they would have been tasked.
Lift = task conversion − hold-out conversion, in percentage points.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import Order, Staff, Task

ISSUED = ("open", "done", "skipped", "snoozed", "carried", "expired", "resumed")


@dataclass
class GuideOutcome:
    staff_id: int
    name: str
    today_done: int = 0
    today_total: int = 0
    issued: int = 0
    done: int = 0
    converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def completion(self) -> float | None:
        return self.rate(self.done, self.issued)

    @property
    def conversion(self) -> float | None:
        return self.rate(self.converted, self.done)

    @property
    def holdout_conversion(self) -> float | None:
        return self.rate(self.holdout_converted, self.holdout)


def team(
    s: Session, stores: frozenset[int] | None, today: date, days: int, window: int, tz: object
) -> list[GuideOutcome]:
    q = select(Staff.id, Staff.name).where(Staff.role == "guide", Staff.active.is_(True))
    if stores is not None:
        q = q.where(Staff.store_id.in_(stores or {-1}))
    out = {sid: GuideOutcome(sid, name) for sid, name in s.execute(q.order_by(Staff.code))}
    if not out:
        return []
    since = today - timedelta(days=days)
    ids = list(out)
    for gid, status, n in s.execute(
        select(Task.guide_id, Task.status, func.count())
        .where(Task.guide_id.in_(ids), Task.day == today)
        .group_by(Task.guide_id, Task.status)
    ):
        if status in ("open", "done", "skipped", "snoozed"):
            out[gid].today_total += n
            out[gid].today_done += n if status == "done" else 0
    for gid, status, converted, n in s.execute(
        select(Task.guide_id, Task.status, Task.converted_order_id.is_not(None), func.count())
        .where(
            Task.guide_id.in_(ids), Task.day >= since, Task.day <= today, Task.status.in_(ISSUED)
        )
        .group_by(Task.guide_id, Task.status, Task.converted_order_id.is_not(None))
    ):
        g = out[gid]
        if status != "carried":  # a carried copy is the same task again
            g.issued += n
        if status == "done":
            g.done += n
            g.converted += n if converted else 0
    held = s.execute(
        select(Task.guide_id, Task.customer_id, Task.day).where(
            Task.guide_id.in_(ids), Task.status == "holdout", Task.day >= since, Task.day <= today
        )
    ).all()
    orders: dict[int, list[datetime]] = defaultdict(list)
    customers = sorted({c for _, c, _ in held})
    start = datetime.combine(since, time(0), UTC) - timedelta(days=1)
    for chunk in (customers[i : i + 900] for i in range(0, len(customers), 900)):
        for cid, at in s.execute(
            select(Order.customer_id, Order.ordered_at).where(
                Order.customer_id.in_(chunk), Order.ordered_at >= start
            )
        ):
            orders[cid].append(at)
    for gid, cid, day in held:
        g = out[gid]
        g.holdout += 1
        begin = datetime.combine(day, time(0), tz)  # type: ignore[arg-type]
        if any(begin <= at < begin + timedelta(days=window) for at in orders.get(cid, ())):
            g.holdout_converted += 1
    return list(out.values())
