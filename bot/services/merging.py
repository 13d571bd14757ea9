"""Merging two customers who turned out to be one person.

Everything the merged-away customer owns (identities, orders, tags, guide relations, notes,
tasks, campaign participation) moves to the survivor and its stats are rebuilt, in the
caller's transaction, while both customers are locked (``survivors.lock_survivors``): an
order or tag racing the merge either lands before it (and is moved) or waits and lands on the
survivor.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.services import stats
from bot.services.survivors import lock_survivors
from storage.models import (
    AuditLog,
    CampaignParticipant,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    Order,
    Task,
)


def merge(session: Session, *, source_id: int, target_id: int, reason: str) -> int:
    """Move everything ``source`` owns to ``target``, leave a forwarding ``merged_into``, and
    return the survivor.

    Both are locked first and followed to their survivors: a merge that another transaction
    already made (or made differently) while we waited is not made twice.
    """
    found = lock_survivors(session, [source_id, target_id])
    source, target = found.get(source_id), found.get(target_id)
    if source is None or target is None:
        raise LookupError(f"cannot merge customer {source_id} into {target_id}: one is missing")
    if source == target:
        return target
    _move(session, source, target, reason)
    return target


def _move(session: Session, source_id: int, target_id: int, reason: str) -> None:
    moved = _move_rows(session, source_id, target_id)
    _fill_and_forward(session, source_id, target_id)
    session.add(
        CustomerMerge(
            source_customer_id=source_id, target_customer_id=target_id, reason=reason, moved=moved
        )
    )
    session.add(
        AuditLog(
            channel="system",
            action="customer.merge",
            customer_id=target_id,
            detail={"source": source_id, "reason": reason, "moved": moved},
        )
    )
    session.flush()
    stats.recompute(session, [target_id])
    _campaign_facts(session, source_id, target_id)


def move_leftovers(session: Session, source_id: int, target_id: int) -> dict[str, int]:
    """Move what is still attached to an already merged ``source`` to its survivor ``target``
    (rows an older version let land on it). The caller holds the survivor's lock and rebuilds
    its stats; returns rows moved per table."""
    moved = _move_rows(session, source_id, target_id)
    session.add(
        AuditLog(
            channel="system",
            action="customer.merge.repair",
            customer_id=target_id,
            detail={"source": source_id, "reason": "scrm doctor --repair", "moved": moved},
        )
    )
    session.flush()
    _campaign_facts(session, source_id, target_id)
    return moved


def _campaign_facts(session: Session, source_id: int, target_id: int) -> None:
    from bot.kpi import hooks as kpi_hooks  # deferred: the KPI package builds on this module

    kpi_hooks.customers_merged(session, [source_id, target_id])


def _move_rows(session: Session, source_id: int, target_id: int) -> dict[str, int]:
    moved: dict[str, int] = {}

    def move(model: type, column: str = "customer_id") -> None:
        col = getattr(model, column)
        result = session.execute(update(model).where(col == source_id).values({column: target_id}))
        moved[model.__tablename__] = result.rowcount  # type: ignore[attr-defined]

    # Rows unique per customer: drop the source's copy where the target already has one.
    dup_tags = select(CustomerTag.tag_id).where(CustomerTag.customer_id == target_id)
    session.execute(
        delete(CustomerTag).where(
            CustomerTag.customer_id == source_id, CustomerTag.tag_id.in_(dup_tags)
        )
    )
    dup_rel = select(GuideRelation.staff_id).where(GuideRelation.customer_id == target_id)
    session.execute(
        delete(GuideRelation).where(
            GuideRelation.customer_id == source_id, GuideRelation.staff_id.in_(dup_rel)
        )
    )
    target_tasks = select(Task.guide_id, Task.day).where(Task.customer_id == target_id).subquery()
    session.execute(
        delete(Task).where(
            Task.customer_id == source_id,
            select(func.count())
            .select_from(target_tasks)
            .where(target_tasks.c.guide_id == Task.guide_id, target_tasks.c.day == Task.day)
            .scalar_subquery()
            > 0,
        )
    )
    dup_camp = select(CampaignParticipant.campaign_id).where(
        CampaignParticipant.customer_id == target_id
    )
    # Both were in one campaign: the survivor keeps the earliest registration and touch, and
    # is targeted if either was (order facts are recomputed from the moved orders).
    _fold_participation(session, source_id, target_id)
    session.execute(
        delete(CampaignParticipant).where(
            CampaignParticipant.customer_id == source_id,
            CampaignParticipant.campaign_id.in_(dup_camp),
        )
    )
    for model in (
        CustomerIdentity,
        Order,
        CustomerTag,
        GuideRelation,
        Interaction,
        Task,
        CampaignParticipant,
    ):
        move(model)
    gone = session.execute(delete(CustomerStats).where(CustomerStats.customer_id == source_id))
    moved[CustomerStats.__tablename__] = gone.rowcount  # type: ignore[attr-defined]
    return moved


def _fill_and_forward(session: Session, source_id: int, target_id: int) -> None:
    """The survivor takes what it lacks from the merged customer, which forwards to it."""
    source = session.get(Customer, source_id)
    target = session.get(Customer, target_id)
    assert source is not None and target is not None
    for attr in (
        "name",
        "name_pinyin",
        "name_initials",
        "phone",
        "phone_last4",
        "gender",
        "birthday",
        "store_id",
        "guide_id",
    ):
        if getattr(target, attr) is None and getattr(source, attr) is not None:
            setattr(target, attr, getattr(source, attr))
    source.merged_into = target_id
    session.execute(
        update(Customer).where(Customer.merged_into == source_id).values(merged_into=target_id)
    )


def _fold_participation(session: Session, source_id: int, target_id: int) -> None:
    rows = session.scalars(
        select(CampaignParticipant).where(
            CampaignParticipant.customer_id.in_([source_id, target_id])
        )
    ).all()
    mine = {r.campaign_id: r for r in rows if r.customer_id == source_id}
    for kept in (r for r in rows if r.customer_id == target_id):
        gone = mine.get(kept.campaign_id)
        if gone is None:
            continue
        kept.registered_at = _earliest(kept.registered_at, gone.registered_at)
        kept.touched_at = _earliest(kept.touched_at, gone.touched_at)
        kept.targeted = kept.targeted or gone.targeted
    session.flush()


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a and b else a or b
