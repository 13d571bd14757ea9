"""Slack pushes exactly once across crashes: every post carries its outbox key as message
metadata, and a redelivery finds an earlier post in the conversation's history instead of
posting twice. The real outbox worker and sender talk to the fake Slack Web API."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.chat import serialize
from bot.chat.types import Reply
from bot.outbox import OutboxWorker, Outgoing, enqueue
from integrations.slack.sender import Pacer, SlackSender
from storage.db import Database
from storage.models import OutboxMessage
from tests.chat_fixtures import Clock
from tests.fakes.slack import BOT_TOKEN, Call, FakeSlack

KEY = "digest:12:2026-11-22"
LEASE = 30


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(db: Database, fake: FakeSlack, clock: Clock) -> Callable[..., OutboxWorker]:
    """A fresh worker, as in a new process: its own client, sender and pacer."""

    def build(**options: Any) -> OutboxWorker:
        client = WebClient(base_url=fake.api_base, token=BOT_TOKEN, **options)
        sender = SlackSender(client, Pacer(clock=lambda: clock.now.timestamp()))
        return OutboxWorker(db, {"slack": sender}, lease=LEASE, clock=clock)

    return build


def push(db: Database, clock: Clock, target: str, key: str = KEY, text: str = "日报") -> None:
    with db.uow() as uow:
        enqueue(uow.session, channel="slack", kind="reply", target=target,
                payload={"reply": serialize.to_dict(Reply(text=text))}, key=key)  # fmt: skip
        uow.commit()
    clock.advance(1)  # due now for the worker clock


def posts(fake: FakeSlack, key: str = KEY) -> list[Call]:
    """The posts carrying ``key`` in their metadata."""
    return [p for p in fake.to("chat.postMessage") if _key(p.args) == key]


def _key(message: dict[str, Any]) -> object:
    return (message.get("metadata") or {}).get("event_payload", {}).get("key")


def row(db: Database, key: str = KEY) -> OutboxMessage:
    with db.session() as s:
        found = s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()
        s.expunge(found)
        return found


def crash(worker: Callable[..., OutboxWorker], clock: Clock, *, after_post: bool) -> Outgoing:
    """A worker claims the push and is killed, after or before its post reached Slack."""
    dying = worker()
    [claimed] = dying.claim()
    if after_post:
        dying.senders["slack"].send(claimed)  # the row is never marked sent
    clock.advance(LEASE + 1)
    return claimed


TARGETS = [("C0DIGEST", "C0DIGEST"), ("UMGR0001", "DMGR0001")]  # (target, its conversation)


@pytest.mark.parametrize(("target", "conversation"), TARGETS)
def test_a_push_that_reached_slack_before_the_crash_is_not_posted_again(
    db: Database,
    fake: FakeSlack,
    clock: Clock,
    worker: Callable[..., OutboxWorker],
    target: str,
    conversation: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    push(db, clock, target)
    claimed = crash(worker, clock, after_post=True)
    assert claimed.redelivery is False and len(posts(fake)) == 1
    with caplog.at_level(logging.INFO, logger="integrations.slack.sender"):
        worker().drain()
    assert len(posts(fake)) == 1
    assert [_key(m) for m in fake.messages[conversation]] == [KEY]
    assert row(db).status == "sent" and row(db).attempts == 2
    [history] = fake.to("conversations.history")
    assert history.args["channel"] == conversation and history.args["include_all_metadata"] == "1"
    assert float(history.args["oldest"]) < float(fake.messages[conversation][0]["ts"])
    assert "already posted" in caplog.text
    opened = [c.args["users"] for c in fake.to("conversations.open")]
    assert opened == ([target] if target.startswith("U") else [])


@pytest.mark.parametrize(("target", "conversation"), TARGETS)
def test_a_push_lost_in_the_crash_is_posted_once_after_the_lease(
    db: Database,
    fake: FakeSlack,
    clock: Clock,
    worker: Callable[..., OutboxWorker],
    target: str,
    conversation: str,
) -> None:
    push(db, clock, target, key="digest:11:2026-11-21")  # an earlier push, already out
    worker().drain()
    push(db, clock, target)
    crash(worker, clock, after_post=False)
    worker().drain()
    assert len(posts(fake)) == 1 and len(posts(fake, "digest:11:2026-11-21")) == 1
    assert [_key(m) for m in fake.messages[conversation]] == [
        "digest:11:2026-11-21",
        KEY,
    ]
    assert row(db).status == "sent"
    assert len(fake.to("conversations.history")) == 1  # only the redelivery looked


def test_every_first_post_carries_its_key_and_reads_no_history(
    db: Database, fake: FakeSlack, clock: Clock, worker: Callable[..., OutboxWorker]
) -> None:
    push(db, clock, "C0DIGEST", key="tasks:G01:2026-11-22")
    with db.uow() as uow:
        enqueue(uow.session, channel="slack", kind="message", target="UMGR0001",
                payload={"text": "send now"}, key="notice:7")  # fmt: skip
        uow.commit()
    clock.advance(1)
    worker().drain()
    sent = fake.to("chat.postMessage")
    assert [(p.args["channel"], p.args["metadata"]) for p in sent] == [
        ("C0DIGEST", {"event_type": "scrm_push", "event_payload": {"key": "tasks:G01:2026-11-22"}}),
        ("UMGR0001", {"event_type": "scrm_push", "event_payload": {"key": "notice:7"}}),
    ]
    assert fake.to("conversations.history") == [] and fake.to("conversations.open") == []


@pytest.mark.parametrize(
    "answer",
    [
        lambda fake: fake.rate_limit("conversations.history", retry_after=5),
        lambda fake: fake.fail("conversations.history", "internal_error"),
        lambda fake: fake.fail("conversations.open", "ratelimited"),
        # the connection drops before an answer; slack_sdk retries that once by itself
        lambda fake: fake.drop("conversations.history", times=2),
    ],
    ids=["429", "error", "dm-open", "network"],
)
def test_a_failed_history_lookup_is_retried_not_posted(
    db: Database,
    fake: FakeSlack,
    clock: Clock,
    worker: Callable[..., OutboxWorker],
    answer: Callable[[FakeSlack], None],
) -> None:
    push(db, clock, "UMGR0001")
    crash(worker, clock, after_post=True)
    answer(fake)
    second = worker()
    second.drain()
    assert second.stats.retried == 1 and len(posts(fake)) == 1
    pending = row(db)
    assert pending.status == "pending" and (pending.last_error or "").startswith("ambiguous:")
    clock.advance(10)
    second.drain()
    assert len(posts(fake)) == 1 and row(db).status == "sent"


def test_a_post_whose_answer_was_lost_is_found_by_the_next_attempt(
    db: Database, fake: FakeSlack, clock: Clock, worker: Callable[..., OutboxWorker]
) -> None:
    push(db, clock, "C0DIGEST")
    fake.drop("chat.postMessage")  # Slack posted it; the answer never came back
    # Without the SDK's own connection retry, which would post again at once.
    sending = worker(retry_handlers=[])
    sending.drain()
    assert len(posts(fake)) == 1 and (row(db).last_error or "").startswith("ambiguous: network")
    clock.advance(10)
    sending.drain()
    assert len(posts(fake)) == 1 and row(db).status == "sent"
    assert len(fake.to("conversations.history")) == 1


@pytest.mark.parametrize("error", ["missing_scope", "not_in_channel"])
def test_a_history_slack_refuses_falls_back_to_posting_with_a_warning(
    db: Database,
    fake: FakeSlack,
    clock: Clock,
    worker: Callable[..., OutboxWorker],
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    push(db, clock, "C0DIGEST")
    crash(worker, clock, after_post=False)
    fake.fail("conversations.history", error)
    with caplog.at_level(logging.WARNING, logger="integrations.slack.sender"):
        worker().drain()
    assert len(posts(fake)) == 1 and row(db).status == "sent"
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    hint = (
        "channels:history, groups:history and im:history" if error == "missing_scope" else "/invite"
    )
    assert error in warning.getMessage() and hint in warning.getMessage()


def test_a_redelivery_finds_its_post_beyond_the_first_page_of_history(
    db: Database, fake: FakeSlack, clock: Clock, worker: Callable[..., OutboxWorker]
) -> None:
    push(db, clock, "C0BUSY")
    crash(worker, clock, after_post=True)
    chatter = WebClient(base_url=fake.api_base, token=BOT_TOKEN)
    for i in range(250):  # the channel moved on while the worker was dead
        chatter.chat_postMessage(channel="C0BUSY", text=f"chatter {i}")
    worker().drain()
    assert len(posts(fake)) == 1 and row(db).status == "sent"
    first, second = fake.to("conversations.history")
    assert "cursor" not in first.args and second.args["cursor"]


def test_the_fake_history_is_newest_first_and_honours_oldest(fake: FakeSlack) -> None:
    client = WebClient(base_url=fake.api_base, token=BOT_TOKEN)
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(3)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    page: Any = client.conversations_history(channel="C1", oldest=stamps[0], limit=1)
    assert [m["ts"] for m in page["messages"]] == [stamps[2]] and page["has_more"]
    rest: Any = client.conversations_history(
        channel="C1", oldest=stamps[0], cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == [stamps[1]] and not rest["has_more"]
