"""The scheduler inside ``scrm serve``'s app: the morning push goes out through the outbox
pump to (fake) WeCom, and /metrics shows the job's runs and duration and the pushes sent."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import time_machine
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import wecom_settings
from tests.test_scheduler import (  # noqa: F401  (fixtures)
    DAY,
    at,
    cfg,
    sched_settings,
    shop,
    wait_for,
    with_ids,
)


@pytest.fixture
def fake() -> Iterator[F.FakeWecom]:
    server = F.FakeWecom().start()
    server.members |= {"wangfang", "amy", "zhou", "admin1"}
    yield server
    server.stop()


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == wanted:
            return float(m.group(2))
    return 0.0


def test_serve_runs_the_morning_push_and_metrics_show_it(
    database_url: str,
    with_ids: Database,  # noqa: F811
    sched_settings: Settings,  # noqa: F811
    fake: F.FakeWecom,
) -> None:
    settings = wecom_settings(
        database_url,
        fake,
        scheduler=True,
        outbox_worker=True,
        leader_poll_seconds=0.2,
        holdout_percent=sched_settings.holdout_percent,
        tasks_per_guide=sched_settings.tasks_per_guide,
        quiet_start="21:00",
        quiet_end="09:00",
    )
    with (
        time_machine.travel(at(9, 29, 55), tick=True),
        TestClient(create_app(settings, with_ids)) as client,
    ):
        wait_for(lambda: bool(fake.sent_to("wangfang")) and bool(fake.sent_to("amy")))
        # A list is several messages: its push counts as sent once the last one is out.
        wait_for(
            lambda: (
                metric(
                    client.get("/metrics").text,
                    "scrm_pushes_total",
                    channel="wecom",
                    outcome="sent",
                )
                >= 2
            )
        )
        text = client.get("/metrics").text
    lists = [
        m
        for m in fake.sent_to("wangfang")
        if m["msgtype"] == "markdown" and f"今日任务 {DAY}" in m["markdown"]["content"]
    ]
    assert len(lists) == 1
    assert metric(text, "scrm_job_runs_total", job="morning", status="ok") == 1
    assert metric(text, "scrm_job_seconds_count", job="morning") == 1
    assert metric(text, "scrm_pushes_total", channel="wecom", outcome="sent") >= 2
    assert metric(text, "scrm_job_runs_total", job="morning", status="failed") == 0
