# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)
"""Multi-message pushes under faults, through the outbox worker and the WeCom sender against
the fake WeCom: a task list (text, then button cards) arrives whole and once, resuming at the
part that failed; a part whose answer was lost is resent inside WeCom's duplicate window and
reported, not resent, past it."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bot.chat.types import Action, Item, Reply
from bot.scheduler.pushes import push_reply
from storage.base import utcnow
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

GUIDES = [f"guide{i:02d}" for i in range(30)]


def _task_list(n: int) -> Reply:
    return Reply(
        title="今日任务",
        text="\n".join(f"{i}. 顾客{i} · 好久不见" for i in range(1, n + 1)),
        items=[Item(i, f"顾客{i}", actions=[Action("完成", f"完成 {i}")]) for i in range(1, n + 1)],
    )


def _push(wx: Harness, target: str, reply: Reply, key: str) -> None:
    with wx.db.uow() as uow:
        push_reply(
            uow.session,
            settings=wx.client.app.state.settings,  # type: ignore[attr-defined]
            channel="wecom",
            target=target,
            reply=reply,
            key=key,
            now=utcnow(),
            respect_quiet_hours=False,
        )
        uow.commit()


def _fingerprint(m: dict[str, Any]) -> str:
    body = m[m["msgtype"]]
    if m["msgtype"] == "template_card":
        return "card:" + body["task_id"]
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def _delivered(wx: Harness, target: str) -> Counter[str]:
    return Counter(_fingerprint(m) for m in wx.fake.sent_to(target))


def _one_fault_at(wx: Harness, call: int, fault: str | int) -> None:
    """The ``call``-th message/send (1-based) fails with ``fault``; every other one works."""
    wx.fake.faults = F.Faults(rate=1.0, paths={"message/send"})
    wx.fake.faults.rng.random = lambda: (
        0.0 if len(wx.fake.calls_to("message/send")) == call else 1.0
    )  # type: ignore[method-assign]
    wx.fake.faults.rng.choice = lambda seq: fault  # type: ignore[method-assign,assignment,return-value]


def test_under_30_percent_faults_every_task_list_arrives_whole_and_once(wx: Harness) -> None:
    wx.fake.members |= set(GUIDES)
    for g in GUIDES:
        _push(wx, g, _task_list(10), f"tasks:{g}:2026-12-01")
    wx.fake.faults = F.Faults(rate=0.3, paths={"message/send"})
    wx.drain(rounds=3000)
    rows = wx.outbox()
    assert {r.status for r in rows} == {"sent"}, Counter(r.status for r in rows)
    parts = {r.parts_sent for r in rows}
    assert min(parts) >= 2  # a text and a card: several messages per push
    for g in GUIDES:
        got = _delivered(wx, g)
        assert len(got) == rows[0].parts_sent and set(got.values()) == {1}, (g, got)
    outcomes = Counter(c.outcome for c in wx.fake.calls_to("message/send"))
    assert outcomes["drop-after"] > 0 and outcomes["errcode -1"] > 0  # faults did happen
    # Resuming at the failed part: a message that reached WeCom is sent again only after
    # its answer was lost (drop-after), and then dropped as a duplicate.
    reached = outcomes["ok"] + outcomes["drop-after"]
    assert reached == sum(r.parts_sent for r in rows) + wx.fake.duplicates
    assert wx.fake.duplicates <= outcomes["drop-after"]


def test_a_lost_answer_is_resent_and_the_duplicate_check_drops_it(wx: Harness) -> None:
    _push(wx, "wangfang", _task_list(10), "tasks:G01:2026-12-01")
    _one_fault_at(wx, 2, "drop-after")  # part 2 arrives, its answer is lost
    wx.drain()
    (row,) = wx.outbox()
    assert row.status == "sent" and row.attempts == 2 and row.maybe_sent_at is None
    got = _delivered(wx, "wangfang")
    assert len(got) == row.parts_sent and set(got.values()) == {1}
    assert wx.fake.duplicates == 1  # the resend of part 2, recognised
    sends = wx.fake.calls_to("message/send")
    assert sends[1].body == sends[2].body  # byte-identical: what the duplicate check needs


def test_a_part_maybe_sent_past_the_duplicate_window_is_reported_not_resent(
    wx: Harness,
) -> None:
    _push(wx, "wangfang", _task_list(10), "tasks:G01:2026-12-01")
    _one_fault_at(wx, 2, "drop-before")  # the request may have arrived: we cannot tell
    assert wx.worker.run_once() == 1
    (row,) = wx.outbox()
    assert row.status == "pending" and row.parts_sent == 1 and row.maybe_sent_at is not None
    wx.clock.advance(5 * 3600)  # past any duplicate_check_interval (at most 4 h)
    wx.drain()
    (row,) = wx.outbox()
    assert row.status == "dead"
    assert (row.last_error or "").startswith("part 2 of ")
    assert "may have arrived" in (row.last_error or "") and "1 earlier part(s) arrived" in (
        row.last_error or ""
    )
    assert len(wx.fake.calls_to("message/send")) == 2  # never resent
