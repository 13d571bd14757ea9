"""Which customers a staff member may see and tag.

An admin sees everyone. A manager sees the customers of their stores. A guide sees the
customers they follow (an active guide relation, or owning guide), or, when the store is
configured with ``SCRM_GUIDE_SCOPE=store``, every customer of their store.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, or_, select, true
from sqlalchemy.orm import Session

from storage.models import Customer, GuideRelation, ManagerStore, Staff

GuideScope = Literal["followed", "store"]


def store_ids(session: Session, staff: Staff) -> frozenset[int]:
    ids = set(
        session.scalars(select(ManagerStore.store_id).where(ManagerStore.staff_id == staff.id))
    )
    if staff.store_id is not None:
        ids.add(staff.store_id)
    return frozenset(ids)


def visible(
    role: str, staff_id: int, stores: frozenset[int], guide_scope: GuideScope
) -> ColumnElement[Any]:
    """A WHERE clause over ``Customer`` for what this staff member may see."""
    live = Customer.merged_into.is_(None)
    if role == "admin":
        return and_(live, true())
    if role == "manager":
        return and_(live, Customer.store_id.in_(stores or {-1}))
    followed = or_(
        Customer.guide_id == staff_id,
        exists().where(
            GuideRelation.customer_id == Customer.id,
            GuideRelation.staff_id == staff_id,
            GuideRelation.removed_at.is_(None),
        ),
    )
    if guide_scope == "store" and stores:
        return and_(live, or_(followed, Customer.store_id.in_(stores)))
    return and_(live, followed)
