"""Outbox and inbox: idempotent enqueue, retries with backoff until a push expires, dead
letters, leases, and several workers never sending one push twice."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot import inbox
from bot.outbox import OutboxWorker, Outgoing, Permanent, Retry, enqueue
from storage.base import utcnow
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.chat_fixtures import Clock


class Recorder:
    def __init__(self, fail: dict[str, list[Exception]] | None = None, pause: float = 0.0) -> None:
        self.sent: list[str] = []
        self.attempts: list[tuple[str, int, bool]] = []
        self.fail = fail or {}
        self.pause = pause
        self.lock = threading.Lock()

    def send(self, message: Outgoing) -> None:
        with self.lock:
            self.attempts.append((message.key, message.attempt, message.redelivery))
        plan = self.fail.get(message.key)
        if plan:
            raise plan.pop(0)
        time.sleep(self.pause)
        with self.lock:
            self.sent.append(message.key)


def _push(db: Database, key: str, n: int = 1, expires_at: datetime | None = None) -> None:
    with db.uow() as uow:
        for _ in range(n):
            enqueue(
                uow.session,
                channel="wecom",
                kind="text",
                target="wangfang",
                payload={"text": key},
                key=key,
                expires_at=expires_at,
            )
        uow.commit()


def _rows(db: Database) -> dict[str, OutboxMessage]:
    with db.session() as s:
        return {m.idempotency_key: m for m in s.scalars(select(OutboxMessage))}


def test_enqueue_is_idempotent_and_sends_once(db: Database) -> None:
    _push(db, "tasks:G01:2026-11-20", n=3)
    _push(db, "tasks:G01:2026-11-20")
    rec = Recorder()
    worker = OutboxWorker(db, {"wecom": rec})
    worker.drain()
    worker.drain()
    assert rec.sent == ["tasks:G01:2026-11-20"]
    row = _rows(db)["tasks:G01:2026-11-20"]
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1


def test_retries_back_off_then_succeed_dead_letter_or_expire(db: Database) -> None:
    clock = Clock()
    _push(db, "a")
    _push(db, "b", expires_at=clock.now + timedelta(hours=3))
    _push(db, "c")
    clock.advance(1)
    rec = Recorder(
        {
            "a": [Retry("45009 rate limited"), Retry("-1 busy", ambiguous=True)],
            "b": [Retry("network")] * 100,
            "c": [Permanent("60011 no permission")],
        }
    )
    events: Counter[str] = Counter()
    worker = OutboxWorker(
        db,
        {"wecom": rec},
        base_delay=1,
        clock=clock,
        rng=random.Random(1),
        on_event=lambda ch, outcome: events.update([outcome]),
    )
    worker.drain()
    rows = _rows(db)
    assert rows["c"].status == "dead" and "60011" in (rows["c"].last_error or "")
    assert rows["a"].status == "pending" and rows["a"].next_attempt_at > clock.now
    assert rows["a"].next_attempt_at <= clock.now + timedelta(seconds=1 * 2**1)
    for _ in range(30):
        clock.advance(600)
        worker.drain()
    rows = _rows(db)
    assert rows["a"].status == "sent" and rows["a"].attempts == 3
    assert ("a", 3, True) in rec.attempts  # after an ambiguous failure, the sender is told
    # Retried by time, not by a count: past its expiry it is expired, with the last error.
    b = rows["b"]
    assert b.status == "expired" and b.attempts > 8, (b.status, b.attempts)
    assert (b.last_error or "").startswith("expired at") and "network" in (b.last_error or "")
    assert rec.sent == ["a"]
    assert events["dead"] == 1 and events["sent"] == 1 and events["expired"] == 1


def test_a_crashed_claim_is_taken_over_after_the_lease(db: Database) -> None:
    clock = Clock()
    _push(db, "x")
    clock.advance(1)
    crashed = OutboxWorker(db, {"wecom": Recorder()}, lease=30, clock=clock)
    assert [m.key for m in crashed.claim()] == ["x"]  # then the process dies
    rec = Recorder()
    other = OutboxWorker(db, {"wecom": rec}, lease=30, clock=clock)
    other.drain()
    assert rec.sent == []  # still leased
    clock.advance(31)
    other.drain()
    assert rec.sent == ["x"]
    # the dead worker may have sent it: the sender is told, to check the platform first
    assert rec.attempts == [("x", 2, True)]


def test_a_redelivery_stays_one_after_a_plain_failure(db: Database) -> None:
    clock = Clock()
    _push(db, "y")
    clock.advance(1)
    OutboxWorker(db, {"wecom": Recorder()}, lease=30, clock=clock).claim()  # dies mid-send
    clock.advance(31)
    rec = Recorder({"y": [Retry("45009 rate limited", after=1)]})
    worker = OutboxWorker(db, {"wecom": rec}, lease=30, clock=clock)
    worker.drain()
    clock.advance(2)
    worker.drain()
    assert rec.attempts == [("y", 2, True), ("y", 3, True)]
    assert rec.sent == ["y"]


def test_two_workers_never_send_the_same_push(db: Database) -> None:
    for i in range(60):
        _push(db, f"k{i}")
    rec = Recorder(pause=0.002)
    workers = [OutboxWorker(db, {"wecom": rec}) for _ in range(3)]
    threads = [threading.Thread(target=w.drain) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(rec.sent) == sorted(f"k{i}" for i in range(60))
    assert len(rec.sent) == len(set(rec.sent))
    assert sum(w.stats.sent for w in workers) == 60


def test_inbox_records_each_event_once(db: Database) -> None:
    with db.uow() as uow:
        assert inbox.first_time(uow.session, "wecom", "msg-1", "text")
        assert not inbox.first_time(uow.session, "wecom", "msg-1", "text")
        assert inbox.first_time(uow.session, "slack", "msg-1")
        uow.commit()
    with db.uow() as uow:
        assert not inbox.first_time(uow.session, "wecom", "msg-1")
        assert inbox.seen(uow.session, "slack", "msg-1")
        uow.rollback()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 2
    assert utcnow()
