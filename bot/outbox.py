"""The outbox: every push is a row with an idempotency key, sent by a worker.

- ``enqueue`` inserts with ON CONFLICT DO NOTHING on the key, in the caller's transaction:
  the push exists exactly when the change that caused it commits, and enqueuing it again
  (a retry, a second scheduler) is a no-op.
- Workers claim due rows under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
  serializes writers), so several replicas never hold the same row at once.
- A send either succeeds (row ``sent``), fails for now (retried with exponential backoff and
  full jitter, up to ``max_attempts``), or fails for good (``dead``, with a metric and a log
  line). A network error after the request left us is ambiguous: the next attempt is marked
  ``redelivery`` so the sender can use the platform's duplicate check, and so is the next
  attempt of a row whose worker died mid-send (its lease ran out with no outcome).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from storage.base import utcnow
from storage.db import Database
from storage.models import OutboxMessage
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)


class Retry(Exception):
    """Try again later (rate limit, server error, network). ``after`` overrides the backoff."""

    def __init__(self, reason: str, after: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.after, self.ambiguous = after, ambiguous


class Permanent(Exception):
    """Will never succeed (bad recipient, payload refused): dead-letter now."""


@dataclass(frozen=True)
class Outgoing:
    id: int
    key: str
    channel: str
    kind: str
    target: str
    payload: dict[str, Any]
    attempt: int
    # True when an earlier attempt may have reached the platform: it ended in an ambiguous
    # network error, or its worker died mid-send (the lease ran out with no outcome).
    redelivery: bool
    created_at: datetime | None = None


class Sender(Protocol):
    def send(self, message: Outgoing) -> None: ...


def enqueue(
    session: Session,
    *,
    channel: str,
    kind: str,
    target: str,
    payload: dict[str, Any],
    key: str,
    not_before: datetime | None = None,
) -> None:
    insert_ignore(
        session,
        OutboxMessage,
        [
            {
                "idempotency_key": key[:200],
                "channel": channel,
                "kind": kind,
                "target": target[:200],
                "payload": payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": not_before or utcnow(),
                "created_at": utcnow(),
            }
        ],
        ["idempotency_key"],
    )


@dataclass
class WorkerStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        *,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db, self.senders = db, senders
        self.max_attempts, self.base_delay, self.max_delay, self.lease = (
            max_attempts,
            base_delay,
            max_delay,
            lease,
        )
        self.clock, self.rng = clock, rng or random.Random()
        self.on_event = on_event or (lambda channel, outcome: None)
        self.stats = WorkerStats()

    def claim(self, limit: int = 20) -> list[Outgoing]:
        now = self.clock()
        with self.db.uow() as uow:
            s = uow.session
            due = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    OutboxMessage.channel.in_(list(self.senders)),
                    or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
                )
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
            )
            if self.db.dialect == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = list(s.scalars(due))
            if not ids:
                return []
            # A row still holding an expired lease was claimed by a worker that never
            # reported back (killed mid-send): its message may already be out.
            interrupted = set(
                s.scalars(
                    select(OutboxMessage.id).where(
                        OutboxMessage.id.in_(ids), OutboxMessage.locked_until.is_not(None)
                    )
                )
            )
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(
                    locked_until=now + timedelta(seconds=self.lease),
                    attempts=OutboxMessage.attempts + 1,
                )
            )
            rows = s.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
            ).all()
            out = [
                Outgoing(
                    r.id,
                    r.idempotency_key,
                    r.channel,
                    r.kind,
                    r.target,
                    dict(r.payload),
                    r.attempts,
                    r.id in interrupted
                    or bool(r.last_error and r.last_error.startswith("ambiguous:")),
                    r.created_at,
                )
                for r in rows
            ]
            uow.commit()
        return out

    def run_once(self, limit: int = 20) -> int:
        """Claim and send one batch; returns how many were attempted."""
        batch = self.claim(limit)
        for message in batch:
            self._deliver(message)
        return len(batch)

    def drain(self, max_rounds: int = 1000) -> None:
        """Send until nothing is due now (used by tests and the CLI)."""
        for _ in range(max_rounds):
            if not self.run_once():
                return

    def _deliver(self, m: Outgoing) -> None:
        sender = self.senders[m.channel]
        try:
            sender.send(m)
        except Retry as exc:
            # Once a message may be out, every later attempt is a redelivery.
            self._failed(m, str(exc), exc.after, ambiguous=exc.ambiguous or m.redelivery)
            return
        except Permanent as exc:
            self._dead(m, str(exc))
            return
        except Exception as exc:  # a bug in a sender must not kill the worker
            log.exception("outbox sender crashed on %s", m.key)
            self._failed(m, f"{type(exc).__name__}: {exc}", None)
            return
        self._finish(m.id, status="sent", error=None)
        self.stats.sent += 1
        self.on_event(m.channel, "sent")

    def _failed(
        self, m: Outgoing, reason: str, after: float | None, ambiguous: bool = False
    ) -> None:
        if m.attempt >= self.max_attempts:
            self._dead(m, f"gave up after {m.attempt} attempts: {reason}")
            return
        # Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
        # And Jitter"): replicas retrying together do not stampede the API.
        delay = (
            after
            if after is not None
            else self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**m.attempt))
        )
        self._finish(
            m.id,
            status="pending",
            error=("ambiguous: " if ambiguous else "") + reason[:500],
            next_at=self.clock() + timedelta(seconds=delay),
        )
        self.stats.retried += 1
        self.on_event(m.channel, "retried")

    def _dead(self, m: Outgoing, reason: str) -> None:
        log.error("outbox dead-letter %s (%s to %s): %s", m.key, m.kind, m.target, reason)
        self._finish(m.id, status="dead", error=reason[:500])
        self.stats.dead += 1
        self.on_event(m.channel, "dead")

    def _finish(
        self, message_id: int, *, status: str, error: str | None, next_at: datetime | None = None
    ) -> None:
        with self.db.uow() as uow:
            values: dict[str, Any] = {"status": status, "last_error": error, "locked_until": None}
            if status == "sent":
                values["sent_at"] = self.clock()
            if next_at is not None:
                values["next_attempt_at"] = next_at
            uow.session.execute(
                update(OutboxMessage).where(and_(OutboxMessage.id == message_id)).values(values)
            )
            uow.commit()
