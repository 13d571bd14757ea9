"""Finding a customer from what a guide types: id, phone, last 4 digits, name, remark,
pinyin or initials (``zs`` finds 张三), or a WeCom external_userid.

Every lookup is an indexed equality or prefix range (never ``LIKE '%x%'``), so it stays
fast at a million customers; the scope filter then keeps only what the actor may see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from bot import redact
from bot.services import identity
from storage.models import Customer, CustomerIdentity, CustomerStats, GuideRelation

LIMIT = 10
_HAN = re.compile(r"[\u3400-\u9fff]")
_ID = re.compile(r"^(?:#|id:)(\d{1,18})$", re.I)
_LATIN = re.compile(r"^[a-z]{1,30}$")


@dataclass(frozen=True)
class Hit:
    id: int
    name: str | None
    phone: str | None
    spend_cents: int
    last_order_at: Any


def _prefix(column: Any, text: str) -> ColumnElement[bool]:
    # A half-open range is a prefix match both SQLite and PostgreSQL serve from a b-tree.
    return and_(column >= text, column < text + "\U0010ffff")


def candidate_ids(session: Session, query: str) -> list[int]:
    q = query.strip()
    if not q:
        return []
    compact = re.sub(r"[\s\-+()]", "", q)
    if compact.isdigit():  # "138 1234 5678", "+86 138-1234-5678"
        q = compact[2:] if len(compact) == 13 and compact.startswith("86") else compact
    if m := _ID.match(q):
        found = identity.canonical_id(session, int(m.group(1)))
        return [found] if found else []
    if q.isdigit():
        if len(q) == 4:
            return list(
                session.scalars(select(Customer.id).where(Customer.phone_last4 == q).limit(200))
            )
        ids: list[int] = []
        if 6 <= len(q) <= 15:
            by_phone = identity.lookup(session, "phone", q)
            if by_phone:
                ids.append(by_phone)
        by_member = identity.lookup(session, "member_no", q)
        if by_member and by_member not in ids:
            ids.append(by_member)
        if not ids and len(q) <= 12:
            found = identity.canonical_id(session, int(q))
            if found:
                ids.append(found)
        return ids
    for kind in ("wecom_external_userid", "member_no", "wechat_openid", "unionid"):
        if len(q) >= 6 or kind == "member_no":
            found = identity.lookup(session, kind, q)
            if found:
                return [found]
    if _HAN.search(q):
        exact = list(session.scalars(select(Customer.id).where(Customer.name == q).limit(200)))
        if exact:
            return exact
        by_remark = list(
            session.scalars(
                select(GuideRelation.customer_id).where(GuideRelation.remark == q).limit(200)
            )
        )
        if by_remark:
            return by_remark
        prefix = select(Customer.id).where(_prefix(Customer.name, q)).limit(200)
        remark_prefix = (
            select(GuideRelation.customer_id).where(_prefix(GuideRelation.remark, q)).limit(200)
        )
        return list(dict.fromkeys([*session.scalars(prefix), *session.scalars(remark_prefix)]))
    low = q.lower()
    if _LATIN.match(low):
        initials = list(
            session.scalars(select(Customer.id).where(Customer.name_initials == low).limit(200))
        )
        pinyin = list(
            session.scalars(
                select(Customer.id).where(_prefix(Customer.name_pinyin, low)).limit(200)
            )
        )
        return list(dict.fromkeys([*pinyin, *initials]))
    return []


def find(session: Session, query: str, scope: ColumnElement[Any], limit: int = LIMIT) -> list[Hit]:
    """Customers matching ``query`` that the scope allows, most valuable first."""
    ids = candidate_ids(session, query)
    if not ids:
        return []
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.phone,
            CustomerStats.spend_cents,
            CustomerStats.last_order_at,
        )
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(Customer.id.in_(ids[:500]), scope)
    ).all()
    hits = [Hit(r.id, r.name, r.phone, r.spend_cents or 0, r.last_order_at) for r in rows]
    hits.sort(key=lambda h: (-h.spend_cents, h.id))
    return hits[:limit]


def external_userid_of(session: Session, customer_id: int) -> str | None:
    return session.scalar(
        select(CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer_id,
            CustomerIdentity.kind == "wecom_external_userid",
        )
    )


def mask_phone(phone: str | None) -> str:
    """****1234: chat shows at most the last 4 digits of any number (docs/security.md)."""
    return redact.phone(phone)
