"""The outbox: every push is a row with an idempotency key, sent by a worker.

- ``enqueue`` inserts with ON CONFLICT DO NOTHING on the key, in the caller's transaction:
  the push exists exactly when the change that caused it commits, and enqueuing it again
  (a retry, a second scheduler) is a no-op.
- Workers claim due rows under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
  serializes writers), so several replicas never hold the same row at once.
- A send either succeeds (row ``sent``), fails for now (retried with exponential backoff and
  full jitter until the push is worthless: ``expires_at``, set per kind or by the caller, a
  morning list until the evening), or fails for good (``dead``, with a metric and a log
  line). A pending push past its expiry is ``expired`` (counted in
  ``scrm_pushes_total{outcome="expired"}``), also when no worker could send it at all.
- A push of several messages (a task list: text, then cards) records each confirmed part
  (``parts_sent``); a retry resumes at the first unconfirmed one instead of starting over.
- A network error after the request left us is ambiguous: the part may have arrived. The
  row remembers since when (``maybe_sent_at``; also set when a worker died mid-send, its
  lease ran out with no outcome) and the next attempts are ``redelivery``, so the sender can
  rely on the platform's duplicate check, and is retried soon, while that check remembers.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from storage.base import utcnow
from storage.db import Database
from storage.models import OutboxMessage
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

# How long a push of each kind is worth sending, from when it may first go out. A caller that
# knows better passes ``expires_at`` (the morning list: until quiet hours start that evening).
EXPIRY: dict[str, timedelta] = {
    "reply": timedelta(hours=12),  # an answer or a scheduled list
    "message": timedelta(hours=12),
    "image": timedelta(hours=12),
    "text": timedelta(hours=24),  # alerts (a deleted customer, a missed job)
    "inbound": timedelta(days=3),  # a callback still to process: contact and tag changes
    "card_update": timedelta(hours=72),  # WeCom honours a response_code for 72 hours
    "mark_tag": timedelta(days=7),  # tags must reach WeCom eventually
}
DEFAULT_EXPIRY = timedelta(hours=24)
# A part that may have arrived is retried at least this often, well inside the platforms'
# duplicate windows (WeCom: 1800 s at least), so a resend is still recognised as one.
MAYBE_MAX_DELAY = 300.0


def expiry_of(kind: str, start: datetime) -> datetime:
    return start + EXPIRY.get(kind, DEFAULT_EXPIRY)


class Retry(Exception):
    """Try again later (rate limit, server error, network). ``after`` overrides the backoff."""

    def __init__(self, reason: str, after: float | None = None, ambiguous: bool = False) -> None:
        super().__init__(reason)
        self.after, self.ambiguous = after, ambiguous


class Permanent(Exception):
    """Will never succeed (bad recipient, payload refused): dead-letter now."""


def _no_progress(parts: int) -> None:
    pass


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
    # A multi-message push: how many parts are confirmed (resume there), and since when the
    # next one may have arrived unconfirmed (None: it surely has not).
    parts_sent: int = 0
    maybe_sent_at: datetime | None = None
    claimed_at: datetime | None = None
    expires_at: datetime | None = None
    # The sender calls this with the number of parts confirmed so far, after each part.
    progress: Callable[[int], None] = field(default=_no_progress, compare=False, repr=False)


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
    expires_at: datetime | None = None,
) -> None:
    now = utcnow()
    first = not_before or now
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
                "parts_sent": 0,
                "next_attempt_at": first,
                "expires_at": expires_at or expiry_of(kind, first),
                "created_at": now,
            }
        ],
        ["idempotency_key"],
    )


@dataclass
class WorkerStats:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    expired: int = 0


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        senders: Mapping[str, Sender],
        *,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease: float = 60.0,
        expire_every: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        self.db, self.senders = db, senders
        self.base_delay, self.max_delay, self.lease = base_delay, max_delay, lease
        self.expire_every = expire_every
        self.clock, self.rng = clock, rng or random.Random()
        self.on_event = on_event or (lambda channel, outcome: None)
        self.stats = WorkerStats()
        self._next_expiry_sweep: datetime | None = None
        self._progressed: set[int] = set()

    def claim(self, limit: int = 20) -> list[Outgoing]:
        now = self.clock()
        with self.db.uow() as uow:
            s = uow.session
            due = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                    or_(OutboxMessage.expires_at.is_(None), OutboxMessage.expires_at > now),
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
            rows = s.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
            ).all()
            out = []
            for r in rows:
                # A row still holding an expired lease was claimed by a worker that never
                # reported back (killed mid-send): its next part may already be out, since
                # about when that lease began.
                if r.locked_until is not None and r.maybe_sent_at is None:
                    r.maybe_sent_at = r.locked_until - timedelta(seconds=self.lease)
                r.locked_until = now + timedelta(seconds=self.lease)
                r.attempts += 1
                legacy_ambiguous = bool(r.last_error and r.last_error.startswith("ambiguous:"))
                out.append(
                    Outgoing(
                        r.id,
                        r.idempotency_key,
                        r.channel,
                        r.kind,
                        r.target,
                        dict(r.payload),
                        r.attempts,
                        r.maybe_sent_at is not None or legacy_ambiguous,
                        r.created_at,
                        parts_sent=r.parts_sent or 0,
                        maybe_sent_at=r.maybe_sent_at,
                        claimed_at=now,
                        expires_at=r.expires_at or expiry_of(r.kind, r.created_at or now),
                        progress=self._progress_of(r.id),
                    )
                )
            uow.commit()
        return out

    def run_once(self, limit: int = 20) -> int:
        """Claim and send one batch; returns how many were attempted."""
        now = self.clock()
        if self._next_expiry_sweep is None or now >= self._next_expiry_sweep:
            self.expire()
            self._next_expiry_sweep = now + timedelta(seconds=self.expire_every)
        batch = self.claim(limit)
        for message in batch:
            self._deliver(message)
        return len(batch)

    def drain(self, max_rounds: int = 1000) -> None:
        """Send until nothing is due now (used by tests and the CLI)."""
        for _ in range(max_rounds):
            if not self.run_once():
                return

    def expire(self) -> int:
        """Mark every pending push past its expiry ``expired``, on any channel (also one no
        process can send: its channel is not configured). Returns how many."""
        now = self.clock()
        with self.db.uow() as uow:
            s = uow.session
            q = select(OutboxMessage).where(
                OutboxMessage.status == "pending",
                OutboxMessage.expires_at <= now,
                or_(OutboxMessage.locked_until.is_(None), OutboxMessage.locked_until < now),
            )
            if self.db.dialect == "postgresql":
                q = q.with_for_update(skip_locked=True)
            rows = s.scalars(q.limit(500)).all()
            for r in rows:
                r.status, r.locked_until = "expired", None
                r.last_error = _expired_text(r.expires_at, r.attempts, r.parts_sent, r.last_error)
                log.warning(
                    "outbox %s (%s to %s): %s", r.idempotency_key, r.kind, r.target, r.last_error
                )
            channels = [r.channel for r in rows]
            uow.commit()
        for channel in channels:
            self.stats.expired += 1
            self.on_event(channel, "expired")
        return len(channels)

    def _progress_of(self, message_id: int) -> Callable[[int], None]:
        def progress(parts: int) -> None:
            self._progressed.add(message_id)
            with self.db.uow() as uow:
                uow.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == message_id, OutboxMessage.parts_sent < parts)
                    .values(parts_sent=parts, maybe_sent_at=None)
                )
                uow.commit()

        return progress

    def _deliver(self, m: Outgoing) -> None:
        sender = self.senders[m.channel]
        self._progressed.discard(m.id)
        try:
            sender.send(m)
        except Retry as exc:
            self._failed(m, str(exc), exc.after, ambiguous=exc.ambiguous)
            return
        except Permanent as exc:
            self._dead(m, str(exc))
            return
        except Exception as exc:  # a bug in a sender must not kill the worker
            log.exception("outbox sender crashed on %s", m.key)
            self._failed(m, f"{type(exc).__name__}: {exc}", None)
            return
        finally:
            self._progressed.discard(m.id)
        self._finish(m.id, status="sent", error=None)
        self.stats.sent += 1
        self.on_event(m.channel, "sent")

    def _failed(
        self, m: Outgoing, reason: str, after: float | None, ambiguous: bool = False
    ) -> None:
        now = self.clock()
        progressed = m.id in self._progressed
        # Since when the first unconfirmed part may be out: kept across plain failures (an
        # earlier lost answer still counts), restarted by progress, begun by this attempt.
        maybe = None if progressed else m.maybe_sent_at
        if ambiguous and maybe is None:
            maybe = m.claimed_at or now
        # Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
        # And Jitter"): replicas retrying together do not stampede the API. The exponent
        # counts the attempts since the last confirmed part, not since the first.
        exponent = max(1, m.attempt - m.parts_sent) if not progressed else 1
        cap = min(self.max_delay, MAYBE_MAX_DELAY) if maybe is not None else self.max_delay
        delay = (
            after
            if after is not None
            else self.rng.uniform(0, min(cap, self.base_delay * 2**exponent))
        )
        next_at = now + timedelta(seconds=delay)
        error = ("ambiguous: " if maybe is not None else "") + reason[:500]
        if m.expires_at is not None and next_at >= m.expires_at:
            self._expire_now(m, error)  # no retry would land before it is worthless
            return
        self._finish(m.id, status="pending", error=error, next_at=next_at, maybe=maybe)
        self.stats.retried += 1
        self.on_event(m.channel, "retried")

    def _expire_now(self, m: Outgoing, reason: str) -> None:
        with self.db.uow() as uow:
            r = uow.session.get(OutboxMessage, m.id)
            assert r is not None
            r.status, r.locked_until = "expired", None
            r.last_error = _expired_text(r.expires_at, r.attempts, r.parts_sent, reason)
            uow.commit()
        log.warning("outbox expired %s (%s to %s): %s", m.key, m.kind, m.target, reason)
        self.stats.expired += 1
        self.on_event(m.channel, "expired")

    def _dead(self, m: Outgoing, reason: str) -> None:
        log.error("outbox dead-letter %s (%s to %s): %s", m.key, m.kind, m.target, reason)
        self._finish(m.id, status="dead", error=reason[:500])
        self.stats.dead += 1
        self.on_event(m.channel, "dead")

    def _finish(
        self,
        message_id: int,
        *,
        status: str,
        error: str | None,
        next_at: datetime | None = None,
        maybe: datetime | None = None,
    ) -> None:
        with self.db.uow() as uow:
            values: dict[str, Any] = {"status": status, "last_error": error, "locked_until": None}
            if status == "sent":
                values["sent_at"] = self.clock()
                values["maybe_sent_at"] = None
            if status == "pending":
                values["maybe_sent_at"] = maybe
            if next_at is not None:
                values["next_attempt_at"] = next_at
            uow.session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(values)
            )
            uow.commit()


def _expired_text(
    expires_at: datetime | None, attempts: int, parts_sent: int, last_error: str | None
) -> str:
    when = expires_at.strftime("%Y-%m-%d %H:%M UTC") if expires_at else "its expiry"
    parts = f"; {parts_sent} part(s) confirmed before it" if parts_sent else ""
    tail = f"; last error: {last_error}" if last_error else "; never attempted"
    return f"expired at {when} after {attempts} attempt(s){parts}{tail}"[:500]
