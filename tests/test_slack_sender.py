"""The Slack outbox sender: one message per second per channel, 429 Retry-After, errors that
dead-letter, and queued replies with charts, against the fake Slack."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.chat import serialize
from bot.chat.types import Chart, Field, Reply
from bot.outbox import OutboxWorker, Outgoing, Permanent, Retry, enqueue
from bot.settings import Settings
from integrations.slack.clients import sync_client
from integrations.slack.sender import Pacer, SlackSender
from storage.base import utcnow
from storage.db import Database
from storage.models import OutboxMessage
from tests.fakes.slack import FakeSlack, slack_settings


class Tick:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def out(i: int, target: str, reply: Reply | None = None) -> Outgoing:
    payload = {"reply": serialize.to_dict(reply or Reply(text=f"hello {i}"))}
    return Outgoing(i, f"k{i}", "slack", "reply", target, payload, 1, False)


def test_one_message_per_second_per_channel(settings: Settings, fake: FakeSlack) -> None:
    tick = Tick()
    sender = SlackSender(sync_client(slack_settings(settings, fake)), Pacer(clock=tick))
    sender.send(out(1, "C1"))
    sender.send(out(2, "C2"))  # another channel is not held back
    waits = []
    for i in (3, 4, 5):
        with pytest.raises(Retry) as exc:
            sender.send(out(i, "C1"))
        waits.append(exc.value.after)
    assert waits == [1.0, 2.0, 3.0]  # reserved slots, one second apart
    tick.t += 1.0
    sender.send(out(3, "C1"))
    with pytest.raises(Retry):
        sender.send(out(4, "C1"))  # its slot is a second later
    tick.t += 1.0
    sender.send(out(4, "C1"))
    posts = fake.to("chat.postMessage")
    assert [p.args["channel"] for p in posts] == ["C1", "C2", "C1", "C1"]


def test_rate_limit_and_errors(settings: Settings, fake: FakeSlack) -> None:
    tick = Tick()
    sender = SlackSender(sync_client(slack_settings(settings, fake)), Pacer(clock=tick))
    fake.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(Retry) as exc:
        sender.send(out(1, "C1"))
    assert exc.value.after == 7.0
    tick.t += 10
    fake.channels["C9"] = {"is_member": False}
    with pytest.raises(Permanent, match="not_in_channel"):
        sender.send(out(2, "C9"))
    with pytest.raises(Permanent, match="kind"):
        sender.send(Outgoing(3, "k3", "slack", "fax", "C1", {}, 1, False))


def test_worker_sends_a_fan_out_paced_and_a_chart_in_the_thread(
    settings: Settings, db: Database, fake: FakeSlack
) -> None:
    clock = [utcnow()]
    sender = SlackSender(sync_client(slack_settings(settings, fake)))
    chart = Reply(
        title="D11", fields=[Field("Net", "¥1")], chart=Chart(b"\x89PNG fake", "Net sales by day")
    )
    with db.uow() as uow:
        for i in range(3):
            enqueue(uow.session, channel="slack", kind="reply", target="C1",
                    payload={"reply": serialize.to_dict(chart if i == 0 else Reply(text=str(i)))},
                    key=f"fan:{i}")  # fmt: skip
        uow.commit()
    clock[0] = utcnow()
    worker = OutboxWorker(db, {"slack": sender}, clock=lambda: clock[0])
    worker.run_once()
    assert len(fake.to("chat.postMessage")) == 1 and worker.stats.retried == 2
    [done] = fake.to("files.completeUploadExternal")
    assert done.args["channel_id"] == "C1" and done.args["thread_ts"]
    assert fake.to("files.getUploadURLExternal")[0].args["alt_txt"] == "Net sales by day"
    for _ in range(40):  # the real pacer waits real seconds; the outbox clock follows
        clock[0] += timedelta(seconds=0.25)
        worker.run_once()
        if len(fake.to("chat.postMessage")) == 3:
            break
        time.sleep(0.25)
    posts = fake.to("chat.postMessage")
    assert len(posts) == 3
    assert all(b.at - a.at >= 0.85 for a, b in itertools.pairwise(posts))
    with db.session() as s:
        assert {m.status for m in s.query(OutboxMessage)} == {"sent"}


def test_the_pace_is_kept_from_the_end_of_a_slow_post() -> None:
    now = [0.0]
    pacer = Pacer(clock=lambda: now[0])
    assert pacer.wait("C1", 1) == 0.0  # the first post starts at 0 s ...
    now[0] = 0.1
    assert pacer.wait("C1", 2) == pytest.approx(0.9)  # ... the next is booked for 1 s
    now[0] = 0.8
    pacer.posted("C1")  # but the first post only ended at 0.8 s (a loaded machine)
    now[0] = 1.0
    assert pacer.wait("C1", 2) == pytest.approx(0.8)  # so the second waits until 1.8 s
    now[0] = 1.8
    assert pacer.wait("C1", 2) == 0.0
    pacer.posted("C1")
    now[0] = 2.0
    assert pacer.wait("C1", 3) == pytest.approx(0.8)  # a new message keeps the distance too
