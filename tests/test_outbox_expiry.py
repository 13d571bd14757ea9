"""A pending push expires when it is worthless (the morning list when that evening's quiet
hours begin), also when no process can send it (its channel is not configured), and
/metrics counts the expiry."""

from __future__ import annotations

from datetime import UTC

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.scheduler import jobs
from bot.scheduler.runtime import Runtime, install
from bot.settings import Settings
from storage.db import Database
from tests.test_scheduler import (  # noqa: F401  (fixtures)
    DAY,
    at,
    cfg,
    pushes,
    runs,
    sched_settings,
    shop,
    with_ids,
)
from tests.test_scheduler_app import metric


def test_a_morning_list_nobody_can_send_expires_in_the_evening_and_is_counted(
    with_ids: Database,  # noqa: F811
    sched_settings: Settings,  # noqa: F811
) -> None:
    # No WeCom credentials: nothing in this process (or any) can send the lists.
    with TestClient(create_app(sched_settings, with_ids)) as client:
        metrics = client.app.state.metrics  # type: ignore[attr-defined]

        def run(job: object, hh: int, mm: int) -> None:
            clock = at(hh, mm).astimezone(UTC)
            install(Runtime(with_ids, sched_settings, "t", metrics, {}, clock=lambda: clock))
            job()  # type: ignore[operator]

        run(lambda: jobs.morning("Asia/Shanghai"), 9, 30)
        lists = pushes(with_ids)
        assert len(lists) == 2 and {p.status for p in lists} == {"pending"}
        assert {p.expires_at for p in lists} == {at(21, 0)}  # quiet hours start: worthless
        run(jobs.outbox_sweep, 20, 59)
        assert {p.status for p in pushes(with_ids)} == {"pending"}
        run(jobs.outbox_sweep, 21, 1)
        expired = pushes(with_ids)
        assert {p.status for p in expired} == {"expired"}
        assert all(
            (p.last_error or "").startswith(f"expired at {DAY} 13:00 UTC after 0 attempt(s)")
            for p in expired
        )
        (sweep, *_) = sorted(runs(with_ids, "outbox_sweep"), key=lambda r: r.id, reverse=True)
        assert sweep.detail == "expired 2; no senders in this process"
        text = client.get("/metrics").text
    assert metric(text, "scrm_pushes_total", channel="wecom", outcome="expired") == 2
