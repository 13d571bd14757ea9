"""Customer lookup: by id (following merges) or by any identity.

Prefer ``POST /api/v1/customers/lookup`` for identities: a phone number in a query string
ends up in proxies' and servers' access logs (ours redact it; others may not).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import redact
from bot.api.deps import DbDep, ReadClient
from bot.intake.rows import normalize_phone
from bot.services import identity
from storage.models import Customer, CustomerIdentity, CustomerStats, IdentityKind

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])
MAX_ID = 2**63 - 1  # BIGINT: a larger id cannot exist (and PostgreSQL would refuse to compare)


class LookupIn(BaseModel):
    kind: IdentityKind = Field(description="Which identity the value is")
    value: str = Field(min_length=1, max_length=128)


def _view(session: Session, customer_id: int, asked: int) -> dict[str, Any]:
    customer = session.get(Customer, customer_id)
    assert customer is not None
    stats = session.get(CustomerStats, customer_id)
    idents = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value).where(
            CustomerIdentity.customer_id == customer_id
        )
    ).all()
    return {
        "id": customer.id,
        "requested_id": asked,
        "merged": asked != customer.id,
        "name": customer.name,
        "phone": customer.phone,
        "store_id": customer.store_id,
        "guide_id": customer.guide_id,
        "identities": [{"kind": k, "value": v} for k, v in idents],
        "stats": None
        if stats is None
        else {
            "first_order_at": stats.first_order_at,
            "last_order_at": stats.last_order_at,
            "order_count": stats.order_count,
            "purchase_days": stats.purchase_days,
            "spend_cents": stats.spend_cents,
            "refund_cents": stats.refund_cents,
            "typical_gap_days": stats.typical_gap_days,
            "stage": stats.stage,
        },
    }


@router.get("/{customer_id}", summary="A customer by id; a merged id answers with the survivor")
async def get_customer(customer_id: int, _client: ReadClient, db: DbDep) -> dict[str, Any]:
    if not 1 <= customer_id <= MAX_ID:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")

    def work() -> dict[str, Any]:
        with db.session() as session:
            survivor = identity.canonical_id(session, customer_id)
            if survivor is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no customer {customer_id}")
            return _view(session, survivor, customer_id)

    return await run_in_threadpool(work)


@router.post("/lookup", summary="Find a customer by one identity (kept out of access logs)")
async def lookup_customer(body: LookupIn, _client: ReadClient, db: DbDep) -> dict[str, Any]:
    return await _find(db, body.kind, body.value)


@router.get("", summary="Find a customer by one identity (prefer POST /lookup)")
async def find_customer(
    _client: ReadClient,
    db: DbDep,
    kind: Annotated[IdentityKind, Query(description="Which identity the value is")],
    value: Annotated[str, Query(min_length=1, max_length=128)],
) -> dict[str, Any]:
    return await _find(db, kind, value)


async def _find(db: Any, kind: IdentityKind, value: str) -> dict[str, Any]:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        # PostgreSQL refuses NUL in text outright; no identity holds a control character.
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "the value contains a control character (such as NUL); send the identity as printed",
        )
    if kind == IdentityKind.PHONE:
        try:
            value = normalize_phone(value)
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    shown = redact.phone(value) if kind == IdentityKind.PHONE else value

    def work() -> dict[str, Any]:
        with db.session() as session:
            found = identity.lookup(session, kind.value, value)
            if found is None:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND, f"no customer with {kind.value} {shown}"
                )
            return _view(session, found, found)

    return await run_in_threadpool(work)
