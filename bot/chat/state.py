"""Per-user conversation state with a short expiry, kept in the store (any replica answers)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.models import ConversationState


def load(session: Session, channel: str, user_id: str, now: datetime) -> dict[str, Any] | None:
    row = session.get(ConversationState, (channel, user_id))
    if row is None or row.expires_at <= now:
        return None
    return dict(row.payload)


def save(
    session: Session, channel: str, user_id: str, payload: dict[str, Any], now: datetime, ttl: int
) -> None:
    row = session.get(ConversationState, (channel, user_id))
    expires = now + timedelta(seconds=ttl)
    if row is None:
        session.add(
            ConversationState(channel=channel, user_id=user_id, payload=payload, expires_at=expires)
        )
    else:
        row.payload, row.expires_at = payload, expires


def clear(session: Session, channel: str, user_id: str) -> None:
    session.execute(
        delete(ConversationState).where(
            ConversationState.channel == channel, ConversationState.user_id == user_id
        )
    )
