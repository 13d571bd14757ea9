"""Build the demo store: four stores, their staff, tags, campaigns, and CDNOW as history.

Everything that has an intake kind goes through ``ingest``, the same path as the API and
``scrm import``, so customer stats and identities are maintained exactly as in production.
Tags, manager regions and notes have no intake kind yet and are written directly.

Each chunk of ~5000 rows is its own unit of work. The demo admin is written last, as the
mark of a finished build: a re-run finds it and returns at once, and a re-run after a crash
resumes (every write is idempotent on its key).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.demo import cast
from bot.demo.cdnow import LAST_DAY, load_cdnow
from bot.demo.plan import Plan, make_plan, pick_customers
from bot.intake.batch import BatchResult
from bot.intake.kinds import ingest
from storage.db import Database
from storage.models import (
    Campaign,
    Customer,
    CustomerTag,
    Interaction,
    ManagerStore,
    Order,
    Refund,
    Staff,
    Store,
    Tag,
    TagGroup,
)
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

CHUNK = 5000
ORDER_PREFIX = "CD"

Progress = Callable[[str, int, int], None]  # step, rows done, rows in the step


@dataclass(frozen=True)
class DemoSummary:
    """What the store holds after the build, and whom to chat as."""

    stores: int
    staff: int
    customers: int
    orders: int
    refunds: int
    campaigns: int
    tags: int
    notes: int
    today: date  # the day the purchase history ends
    guide_code: str
    manager_code: str
    en_manager_code: str
    admin_code: str
    built: bool  # False when the demo was already there and nothing was written
    seconds: float


class DemoBuildError(RuntimeError):
    """The demo data was refused by the intake checks (a bug in the demo, not in the input)."""


def build_demo(
    db: Database,
    *,
    tz: tzinfo,
    today: date | None = None,
    seed: int = 7,
    customers: int | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Fill ``db`` (migrated, empty or holding this demo) with the demo store.

    ``today`` is the day CDNOW's last day maps to (default: today in ``tz``); ``customers``
    takes an even subset of CDNOW's 23,570 customers. A database that already holds a demo
    keeps the day its history ends on, so a re-run on a later day adds nothing twice.
    """
    started = time.monotonic()
    now = datetime.now(tz).replace(microsecond=0)
    today = today or now.date()
    if today > now.date():
        raise ValueError(f"the demo history cannot end in the future ({today} > {now.date()})")
    transactions = load_cdnow()
    picked = set(pick_customers(transactions, customers))
    expected_orders = sum(1 for t in transactions if t.customer_id in picked)
    with db.session() as session:
        anchor = _existing_anchor(session, tz)
        done = _finished(session) and _demo_orders(session) >= expected_orders
    if anchor and anchor != today:
        log.info("the store already holds a demo ending %s; keeping that day", anchor)
        today = anchor
    if done:
        return _summary(db, today, built=False, started=started)

    plan = make_plan(transactions, today=today, tz=tz, now=now, seed=seed, customers=customers)
    _write(db, plan, tz, progress or (lambda _step, _done, _total: None))
    return _summary(db, today, built=True, started=started)


def _write(db: Database, plan: Plan, tz: tzinfo, progress: Progress) -> None:
    with db.uow() as uow:
        s = uow.session
        _ingest(s, "stores", list(cast.STORES), tz)
        _ingest(s, "staff", [*cast.MANAGERS, *cast.GUIDES], tz)
        _manager_regions(s)
        _tag_groups(s)
        _ingest(s, "campaigns", plan.campaigns, tz)
        uow.commit()
    progress("setup", 1, 1)

    ids = _ids(db)
    notes = {n.member_no: n for n in plan.notes}
    total = len(plan.customers)
    for start in range(0, total, CHUNK):
        people = plan.customers[start : start + CHUNK]
        with db.uow() as uow:
            result = _ingest(uow.session, "customers", [c.row for c in people], tz, start)
            tags: list[dict[str, Any]] = []
            new_notes: list[Interaction] = []
            for customer, res in zip(people, result.results, strict=True):
                assert res.id is not None
                tags.extend(_tag_row(res.id, ids, *tag) for tag in customer.tags)
                note = notes.get(customer.member_no)
                # Notes have no natural key: write them only with a customer we just created.
                if note and res.status == "created":
                    new_notes.append(
                        Interaction(
                            customer_id=res.id,
                            staff_id=ids.staff[note.guide],
                            kind="note",
                            channel="wecom",
                            body=note.body,
                            occurred_at=note.occurred_at,
                        )
                    )
            insert_ignore(uow.session, CustomerTag, tags, ["customer_id", "tag_id"])
            uow.session.add_all(new_notes)
            uow.commit()
        progress("customers", min(start + CHUNK, total), total)

    refunds: dict[str, list[dict[str, Any]]] = {}
    for r in plan.refunds:
        refunds.setdefault(r["order_no"], []).append(r)
    total = len(plan.orders)
    for start in range(0, total, CHUNK):
        orders = plan.orders[start : start + CHUNK]
        with db.uow() as uow:
            _ingest(uow.session, "orders", orders, tz, start)
            # A refund lands with its order, so the stats never see one without the other.
            mine = [r for o in orders for r in refunds.get(o["order_no"], ())]
            _ingest(uow.session, "refunds", mine, tz)
            uow.commit()
        progress("orders", min(start + CHUNK, total), total)

    with db.uow() as uow:
        _ingest(uow.session, "staff", [cast.ADMIN], tz)  # the finished mark: last
        uow.commit()


def _ingest(
    session: Session, kind: str, rows: Sequence[dict[str, Any]], tz: tzinfo, offset: int = 0
) -> BatchResult:
    result = ingest(session, kind, rows, tz=tz, offset=offset)
    if result.rejected:
        first = result.rejected[0]
        raise DemoBuildError(
            f"{len(result.rejected)} demo {kind} rows were refused; first: row {first.index} "
            f"({first.key}): {first.errors}"
        )
    return result


def _manager_regions(session: Session) -> None:
    stores = {code: id_ for code, id_ in session.execute(select(Store.code, Store.id))}
    staff = {code: id_ for code, id_ in session.execute(select(Staff.code, Staff.id))}
    rows = [
        {"staff_id": staff[code], "store_id": stores[store]}
        for code, extra in cast.MANAGER_EXTRA_STORES.items()
        for store in extra
    ]
    insert_ignore(session, ManagerStore, rows, ["staff_id", "store_id"])


def _tag_groups(session: Session) -> None:
    for spec in cast.TAG_GROUPS:
        group = session.scalar(select(TagGroup).where(TagGroup.name == spec.name))
        if group is None:
            group = TagGroup(name=spec.name, open=spec.open)
            session.add(group)
            session.flush()
        have = set(session.scalars(select(Tag.name).where(Tag.group_id == group.id)))
        source = "rule" if spec is cast.TIERS else "manual"
        session.add_all(
            Tag(group_id=group.id, name=name, source=source)
            for name in spec.tags
            if name not in have
        )
    session.flush()


@dataclass(frozen=True)
class _Ids:
    tags: dict[tuple[str, str], int]
    staff: dict[str, int]


def _ids(db: Database) -> _Ids:
    with db.session() as s:
        tags = s.execute(select(TagGroup.name, Tag.name, Tag.id).join(TagGroup))
        staff = s.execute(select(Staff.code, Staff.id))
        return _Ids({(g, t): i for g, t, i in tags}, {code: id_ for code, id_ in staff})


def _tag_row(
    customer_id: int, ids: _Ids, group: str, tag: str, staff: str | None
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "tag_id": ids.tags[(group, tag)],
        "source": "manual" if staff else "rule",
        "staff_id": ids.staff[staff] if staff else None,
    }


def _finished(session: Session) -> bool:
    return session.scalar(select(Staff.id).where(Staff.code == cast.ADMIN_CODE)) is not None


def _demo_orders(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Order).where(Order.order_no.like(f"{ORDER_PREFIX}%"))
        )
        or 0
    )


def _existing_anchor(session: Session, tz: tzinfo) -> date | None:
    """The day an earlier build's history ends, read back from one of its orders."""
    row = session.execute(
        select(Order.order_no, Order.ordered_at)
        .where(Order.order_no.like(f"{ORDER_PREFIX}%"))
        .limit(1)
    ).first()
    if row is None:
        return None
    original = datetime.strptime(row.order_no.split("-")[1], "%Y%m%d").date()
    return LAST_DAY + (row.ordered_at.astimezone(tz).date() - original)


def _summary(db: Database, today: date, *, built: bool, started: float) -> DemoSummary:
    def count(model: Any, *where: Any) -> int:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0

    with db.session() as s:
        return DemoSummary(
            stores=count(Store),
            staff=count(Staff),
            customers=count(Customer, Customer.merged_into.is_(None)),
            orders=count(Order),
            refunds=count(Refund),
            campaigns=count(Campaign),
            tags=count(Tag),
            notes=count(Interaction, Interaction.kind == "note"),
            today=today,
            guide_code=cast.GUIDES[0]["code"],
            manager_code=cast.MANAGERS[0]["code"],
            en_manager_code=cast.MANAGERS[1]["code"],
            admin_code=cast.ADMIN_CODE,
            built=built,
            seconds=round(time.monotonic() - started, 2),
        )
