"""The inbox: each inbound event is processed once, however often the platform delivers it.

``first_time`` inserts (source, key) in the caller's transaction. When it returns False the
event was seen before and the caller does nothing; when it returns True the caller's effects
and the inbox row commit together, so a crash in between replays the event whole.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import InboxEvent
from storage.upsert import insert_ignore_returning


def first_time(session: Session, source: str, key: str, kind: str | None = None) -> bool:
    inserted = insert_ignore_returning(
        session,
        InboxEvent,
        [{"source": source, "event_key": key[:128], "kind": kind}],
        ["source", "event_key"],
        InboxEvent.id,
    )
    return bool(inserted)


def seen(session: Session, source: str, key: str) -> bool:
    return (
        session.scalar(
            select(InboxEvent.id).where(
                InboxEvent.source == source, InboxEvent.event_key == key[:128]
            )
        )
        is not None
    )
