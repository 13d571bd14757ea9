"""The daily task list: one per guide per day.

Order: the retention list first, ranked by expected loss = churn probability × value at risk:
silent and churn-risk repeat buyers, high-value (RFM M4–5) customers in any of the silent,
churn-risk and lost stages, and one-time buyers on the day of the shop's median
first-to-second purchase interval (the second-purchase track, which replaces calling every
one-time buyer a churn risk). Then moments that matter (new-customer follow-up, birthday,
post-purchase check-in); capped per guide. A customer
contacted (a note, a done or skipped task) within the cooldown is not tasked again. Undone
tasks carry over for ``task_carry_days`` from the day they were first issued, then expire. A
random but reproducible hold-out slice of eligible customers is never tasked: they get a row
with status ``holdout``, never shown, so lift can be measured against them.

Generation is idempotent: tasks are unique per guide, customer and day, existing ranks are
kept, and a second run for the same day finds nothing new to add. It commits in chunks of
guides, so a run cut short keeps its progress and the rerun finishes the same list.

Value at risk: the customer's yearly net spend, net / max(years since first order, 0.25) —
what a year without them would cost.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, any_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from bot.lifecycle.messages import Facts, suggest
from bot.settings import Settings
from storage.db import Database
from storage.models import (
    Customer,
    CustomerStats,
    CustomerTag,
    Interaction,
    ModelFit,
    Order,
    OrderItem,
    Staff,
    Tag,
    TagGroup,
    Task,
)
from storage.upsert import insert_ignore

PRIORITY = {
    "churn_risk": 0,
    "silent": 0,
    "lost": 0,
    "second_purchase": 0,
    "new_followup": 1,
    "birthday": 2,
    "post_purchase": 3,
}
RETENTION = ("churn_risk", "silent", "lost", "second_purchase")  # hold-out rows are kept for these
HIGH_VALUE_M = 4  # RFM monetary quintile from which a lost customer is still worth a task
SHOWN = ("open", "done", "skipped", "snoozed")


@dataclass
class Candidate:
    customer_id: int
    guide_id: int
    kind: str
    value_cents: int
    origin_day: date | None = None
    churn: float = 0.0

    @property
    def expected_loss(self) -> float:
        return self.churn * self.value_cents


@dataclass
class GenerateReport:
    day: date
    created: int = 0
    carried: int = 0
    expired: int = 0
    holdout: int = 0
    guides: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def in_holdout(customer_id: int, settings: Settings) -> bool:
    digest = hashlib.sha256(f"{settings.holdout_salt}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < settings.holdout_percent * 100


def _id_filters(s: Session, column: Any, ids: list[int]) -> list[ColumnElement[bool]]:
    """``column IN ids`` as few statements as the database allows: one ``= ANY(array)`` on
    PostgreSQL (a single parameter, however many ids), chunks of 900 elsewhere (SQLite's
    parameter limit). Compiling an IN list of hundreds of thousands of parameters, chunk by
    chunk, cost more than running the queries."""
    if s.get_bind().dialect.name == "postgresql":
        return [column == any_(literal(ids, ARRAY(BigInteger)))] if ids else []
    return [column.in_(ids[i : i + 900]) for i in range(0, len(ids), 900)]


def _day_start(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, time(0), settings.tz).astimezone(UTC)


GUIDES_PER_COMMIT = 50


def generate(
    db: Database, settings: Settings, day: date, *, guides_per_commit: int = GUIDES_PER_COMMIT
) -> GenerateReport:
    """Plans every guide's list in one read, then writes it ``guides_per_commit`` guides per
    transaction, so a run cut short (a killed scheduler leader) keeps what it wrote.

    A rerun plans again from the store: the customers written for today are taken, a written
    guide's cap is used up, and the carried and resumed tasks are marked only in the last
    transaction (until then they are still candidates, so the cross-guide "one task per
    customer" choice is made exactly as before). The rerun therefore adds just the unwritten
    guides' rows, the same ranks, caps and hold-out rows one uninterrupted run writes.
    """
    report = GenerateReport(day)
    with db.session() as s:
        carried, moves = _carry_over(s, settings, day, report)
        candidates = _with_churn(s, carried) + _candidates(s, settings, day)
        rows, holdout_rows = _plan(s, settings, day, candidates, report)
    by_guide: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows + holdout_rows:
        by_guide[int(row["guide_id"])].append(row)  # type: ignore[call-overload]
    guides = sorted(by_guide)
    batches = [guides[i : i + guides_per_commit] for i in range(0, len(guides), guides_per_commit)]
    for n, batch in enumerate(batches or [[]]):
        with db.uow() as uow:
            _insert(uow.session, [r for g in batch for r in by_guide[g]])
            if n == max(len(batches) - 1, 0):
                _move(uow.session, moves)
            uow.commit()
    return report


def _insert(s: Session, rows: list[dict[str, object]]) -> None:
    shown = [r for r in rows if r["status"] != "holdout"]
    insert_ignore(s, Task, shown, ["guide_id", "customer_id", "day"])
    insert_ignore(
        s, Task, [r for r in rows if r["status"] == "holdout"], ["guide_id", "customer_id", "day"]
    )


def _move(s: Session, moves: list[tuple[int, str, str]]) -> None:
    """Carried, expired and resumed tasks change status, each only from the one planned."""
    by_change: dict[tuple[str, str], list[int]] = defaultdict(list)
    for task_id, old, new in moves:
        by_change[(old, new)].append(task_id)
    for (old, new), ids in sorted(by_change.items()):
        for flt in _id_filters(s, Task.id, sorted(ids)):
            s.execute(update(Task).where(flt, Task.status == old).values(status=new))


def _with_churn(s: Session, candidates: list[Candidate]) -> list[Candidate]:
    """Carried and resumed tasks rank by today's churn probability, like fresh ones."""
    ids = sorted({c.customer_id for c in candidates})
    churn: dict[int, float] = {}
    for flt in _id_filters(s, CustomerStats.customer_id, ids):
        q = select(CustomerStats.customer_id, CustomerStats.churn_probability).where(flt)
        churn.update((cid, p or 0.0) for cid, p in s.execute(q))
    for c in candidates:
        c.churn = churn.get(c.customer_id, 0.0)
    return candidates


def _carry_over(
    s: Session, settings: Settings, day: date, report: GenerateReport
) -> tuple[list[Candidate], list[tuple[int, str, str]]]:
    """Open tasks of earlier days move to today while fresh; older ones expire. Returns the
    candidates and the status changes (task id, from, to), which ``generate`` applies last."""
    fresh_from = day - timedelta(days=settings.task_carry_days)
    stale = s.scalars(
        select(Task).where(Task.day < day, Task.status == "open").order_by(Task.id)
    ).all()
    resumed = s.scalars(
        select(Task).where(Task.status == "snoozed", Task.snoozed_until <= day).order_by(Task.id)
    ).all()
    out: list[Candidate] = []
    moves: list[tuple[int, str, str]] = []
    for task in stale:
        origin = task.origin_day or task.day
        if origin >= fresh_from:
            moves.append((task.id, "open", "carried"))
            out.append(
                Candidate(
                    task.customer_id, task.guide_id, task.kind, task.value_at_risk_cents, origin
                )
            )
            report.carried += 1
        else:
            moves.append((task.id, "open", "expired"))
            report.expired += 1
    for task in resumed:
        moves.append((task.id, "snoozed", "resumed"))
        out.append(
            Candidate(task.customer_id, task.guide_id, task.kind, task.value_at_risk_cents, day)
        )
    return out, moves


def _candidates(s: Session, settings: Settings, day: date) -> list[Candidate]:
    start = _day_start(day, settings)
    guides = select(Staff.id).where(Staff.role == "guide", Staff.active.is_(True))
    base = (
        select(
            Customer.id,
            Customer.guide_id,
            CustomerStats.stage,
            CustomerStats.spend_cents,
            CustomerStats.refund_cents,
            CustomerStats.first_order_at,
            CustomerStats.last_order_at,
            CustomerStats.purchase_days,
            CustomerStats.churn_probability,
        )
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(Customer.merged_into.is_(None), Customer.guide_id.in_(guides))
    )
    # Core rows (the connection's execute): the ORM's per-row work cost more than the query.
    run = s.connection().execute
    rows = list(
        run(
            base.where(
                CustomerStats.stage.in_(("churn_risk", "silent", "lost")),
                or_(
                    and_(CustomerStats.stage != "lost", CustomerStats.purchase_days >= 2),
                    CustomerStats.rfm_m >= HIGH_VALUE_M,
                ),
            )
        )
    )

    def window(days: int) -> tuple[datetime, datetime]:
        lo = start - timedelta(days=days)
        return lo, lo + timedelta(days=1)

    lo, hi = window(settings.new_followup_days)
    new_rows = list(
        run(
            base.where(
                CustomerStats.purchase_days == 1,
                CustomerStats.first_order_at >= lo,
                CustomerStats.first_order_at < hi,
            )
        )
    )
    second_rows: list[Any] = []
    interval = _second_purchase_days(s)
    if interval is not None:
        lo, hi = window(interval)
        second_rows = list(
            run(
                base.where(
                    CustomerStats.purchase_days == 1,
                    CustomerStats.first_order_at >= lo,
                    CustomerStats.first_order_at < hi,
                    CustomerStats.stage != "deleted",
                )
            )
        )
    lo, hi = window(settings.post_purchase_days)
    post_rows = list(
        run(
            base.where(
                CustomerStats.purchase_days > 1,
                CustomerStats.last_order_at >= lo,
                CustomerStats.last_order_at < hi,
            )
        )
    )
    month_day = day.strftime("%m-%d")
    md = (
        func.strftime("%m-%d", Customer.birthday)
        if s.get_bind().dialect.name == "sqlite"
        else func.to_char(Customer.birthday, "MM-DD")
    )
    birthday_rows = list(run(base.where(Customer.birthday.is_not(None), md == month_day)))

    out: list[Candidate] = []
    for kind_rows, kind in (
        (rows, None),
        (second_rows, "second_purchase"),
        (new_rows, "new_followup"),
        (birthday_rows, "birthday"),
        (post_rows, "post_purchase"),
    ):
        for r in kind_rows:
            value = _value_at_risk(r, start)
            out.append(
                Candidate(
                    r.id, r.guide_id, kind or r.stage, value, None, r.churn_probability or 0.0
                )
            )
    return out


def _second_purchase_days(s: Session) -> int | None:
    """The shop's median first-to-second interval, as the latest refit measured it."""
    params = s.scalar(
        select(ModelFit.params)
        .where(ModelFit.model == "mbgnbd")
        .order_by(ModelFit.id.desc())
        .limit(1)
    )
    days = (params or {}).get("second_purchase_days")
    return max(round(days), 1) if days else None


def _value_at_risk(r: object, now: datetime) -> int:
    net = max(int(r.spend_cents or 0) - int(r.refund_cents or 0), 0)  # type: ignore[attr-defined]
    first = r.first_order_at or now  # type: ignore[attr-defined]
    years = max((now - first).days / 365.25, 0.25)
    return int(net / years)


def _plan(
    s: Session, settings: Settings, day: date, candidates: list[Candidate], report: GenerateReport
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Today's new rows: (shown rows, hold-out rows)."""
    start = _day_start(day, settings)
    cool_from = start - timedelta(days=settings.task_cooldown_days)
    ids = sorted({c.customer_id for c in candidates})
    taken_today: set[int] = set()
    cooled: set[int] = set()
    ranks: dict[int, int] = defaultdict(int)
    counts: dict[int, int] = defaultdict(int)
    for in_task, in_interaction in zip(
        _id_filters(s, Task.customer_id, ids),
        _id_filters(s, Interaction.customer_id, ids),
        strict=True,
    ):
        taken_today.update(s.scalars(select(Task.customer_id).where(Task.day == day, in_task)))
        cooled.update(
            s.scalars(
                select(Interaction.customer_id).where(
                    in_interaction,
                    Interaction.occurred_at >= cool_from,
                    Interaction.occurred_at < start,
                )
            )
        )
        cooled.update(
            s.scalars(
                select(Task.customer_id).where(
                    in_task,
                    Task.day >= day - timedelta(days=settings.task_cooldown_days),
                    Task.day < day,
                    Task.status.in_(("done", "skipped")),
                )
            )
        )
    for guide_id, max_rank, n in s.execute(
        select(Task.guide_id, func.max(Task.rank), func.count())
        .where(Task.day == day, Task.status.in_(SHOWN))
        .group_by(Task.guide_id)
    ):
        ranks[guide_id], counts[guide_id] = max_rank or 0, n

    per_guide: dict[int, list[Candidate]] = defaultdict(list)
    seen: set[int] = set()
    holdout_rows: list[dict[str, object]] = []
    ordered = sorted(
        candidates,
        key=lambda c: (c.origin_day is None, PRIORITY[c.kind], -c.expected_loss, c.customer_id),
    )
    for c in ordered:
        if c.customer_id in seen or c.customer_id in taken_today:
            continue
        seen.add(c.customer_id)
        if c.origin_day is None and c.customer_id in cooled:
            continue
        if in_holdout(c.customer_id, settings):
            if c.kind in RETENTION:
                holdout_rows.append(
                    {
                        "guide_id": c.guide_id,
                        "customer_id": c.customer_id,
                        "day": day,
                        "kind": c.kind,
                        "rank": 0,
                        "value_at_risk_cents": c.value_cents,
                        "status": "holdout",
                        "suggested_message": "",
                        "origin_day": day,
                        "created_at": start,
                    }
                )
            continue
        per_guide[c.guide_id].append(c)

    chosen: list[tuple[Candidate, int]] = []
    for guide_id, items in per_guide.items():
        items.sort(key=lambda c: (PRIORITY[c.kind], -c.expected_loss, c.customer_id))
        room = settings.tasks_per_guide - counts[guide_id]
        for c in items[: max(room, 0)]:
            ranks[guide_id] += 1
            chosen.append((c, ranks[guide_id]))
    facts = _facts(s, [c for c, _ in chosen])
    rows = []
    for c, rank in chosen:
        name, guide, locale, item, tag = facts[c.customer_id]
        rows.append(
            {
                "guide_id": c.guide_id,
                "customer_id": c.customer_id,
                "day": day,
                "kind": c.kind,
                "rank": rank,
                "value_at_risk_cents": c.value_cents,
                "status": "open",
                "origin_day": c.origin_day or day,
                "suggested_message": suggest(c.kind, Facts(name, guide, item, tag, None), locale),
                "created_at": start,
            }
        )
        report.by_kind[c.kind] = report.by_kind.get(c.kind, 0) + 1
    report.created = len(rows) - sum(1 for c, _ in chosen if c.origin_day and c.origin_day < day)
    report.holdout = len(holdout_rows)
    report.guides = len({c.guide_id for c, _ in chosen})
    return rows, holdout_rows


def _facts(
    s: Session, chosen: list[Candidate]
) -> dict[int, tuple[str | None, str, str, str | None, str | None]]:
    """(customer name, guide name, guide locale, last item, one tag) for each chosen customer."""
    ids = [c.customer_id for c in chosen]
    out: dict[int, tuple[str | None, str, str, str | None, str | None]] = {}
    names: dict[int, tuple[str | None, str, str]] = {}
    items: dict[int, str] = {}
    tags: dict[int, str] = {}
    for in_customer, in_order, in_tagged in zip(
        _id_filters(s, Customer.id, ids),
        _id_filters(s, Order.customer_id, ids),
        _id_filters(s, CustomerTag.customer_id, ids),
        strict=True,
    ):
        for cid, name, guide, locale in s.execute(
            select(Customer.id, Customer.name, Staff.name, Staff.locale)
            .join(Staff, Staff.id == Customer.guide_id)
            .where(in_customer)
        ):
            names[cid] = (name, guide, locale)
        last = (
            select(Order.customer_id, func.max(Order.ordered_at).label("at"))
            .where(in_order)
            .group_by(Order.customer_id)
            .subquery()
        )
        for cid, item in s.execute(
            select(Order.customer_id, func.min(func.coalesce(OrderItem.name, OrderItem.sku)))
            .join(
                last, and_(last.c.customer_id == Order.customer_id, last.c.at == Order.ordered_at)
            )
            .join(OrderItem, OrderItem.order_id == Order.id)
            .group_by(Order.customer_id)
        ):
            items[cid] = item
        # Only tags from open groups are tastes (偏好); a tier such as VIP is not something to "like".
        for cid, tag in s.execute(
            select(CustomerTag.customer_id, func.min(Tag.name))
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(in_tagged, TagGroup.open.is_(True))
            .group_by(CustomerTag.customer_id)
        ):
            tags[cid] = tag
    for cid in ids:
        name, guide, locale = names.get(cid, (None, "", "zh"))
        out[cid] = (name, guide, locale, items.get(cid), tags.get(cid))
    return out


__all__ = ["GenerateReport", "generate", "in_holdout"]
