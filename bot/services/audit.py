"""The audit log: who looked at or changed a customer, when, and from which channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from storage.models import AuditLog


def record(
    session: Session,
    *,
    staff_id: int | None,
    channel: str,
    action: str,
    customer_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditLog(
            staff_id=staff_id,
            channel=channel,
            action=action,
            customer_id=customer_id,
            detail=detail,
        )
    )
