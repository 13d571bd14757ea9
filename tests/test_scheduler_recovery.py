"""A leader that dies in the middle of a run: APScheduler has already moved the job to its
next fire time, so without ``bot.scheduler.runs`` the run would be lost. The next leader
finishes it once inside the grace period, and reports it as missed after."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from sqlalchemy import select

from bot.scheduler import jobs, runs
from bot.scheduler.runtime import Runtime, install
from bot.settings import Settings
from storage.db import Database
from storage.models import JobRun
from tests.test_scheduler import (  # noqa: F401  (fixtures)
    DAY,
    Services,
    at,
    cfg,
    pushes,
    sched_settings,
    services,
    shop,
    wait_for,
    with_ids,
)
from tests.test_scheduler import (
    runs as job_runs,
)

MORNING = "morning:Asia/Shanghai"


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the job gets to record an outcome."""


@pytest.fixture
def dies_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = jobs.generate

    def generate(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Killed
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "generate", generate)
    return calls


def killed_at_0930(services: Services, db: Database) -> None:  # noqa: F811
    with time_machine.travel(at(9, 29, 58), tick=True):
        first = services(name="killed")
        wait_for(lambda: bool(job_runs(db, MORNING, "running")))
        sched = first.scheduler
        assert sched is not None
        # the store already points at tomorrow: APScheduler thinks the run happened
        wait_for(lambda: sched.get_job(MORNING).next_run_time == at(9, 30, day_offset=1))
        first.stop()
    assert pushes(db) == []


def test_the_next_leader_finishes_a_run_the_killed_one_left(
    services: Services,  # noqa: F811
    with_ids: Database,  # noqa: F811
    dies_once: list[int],
) -> None:
    killed_at_0930(services, with_ids)
    with time_machine.travel(at(9, 40), tick=True):
        services(name="next")
        wait_for(lambda: bool(job_runs(with_ids, MORNING, "ok")))
        services.stop_all()
    assert sorted(m.idempotency_key for m in pushes(with_ids)) == [
        f"tasks:G01:{DAY}",
        f"tasks:G03:{DAY}",
    ]
    [run] = job_runs(with_ids, MORNING)  # the same run, finished: not a second one
    assert run.status == "ok" and run.runner == "test-next"
    assert run.scheduled_for == at(9, 30)
    assert len(dies_once) == 2


def test_a_run_left_past_the_grace_period_is_reported_not_sent(
    services: Services,  # noqa: F811
    with_ids: Database,  # noqa: F811
    dies_once: list[int],
) -> None:
    killed_at_0930(services, with_ids)
    with time_machine.travel(at(12, 0), tick=True):  # 150 min later; the grace is 120
        services(name="late")
        wait_for(lambda: bool(job_runs(with_ids, MORNING, "missed")))
        services.stop_all()
    assert pushes(with_ids) == []
    [run] = job_runs(with_ids, MORNING)
    assert run.status == "missed"
    assert [a.target for a in pushes(with_ids, "missed:morning:")] == ["admin1"]
    assert len(dies_once) == 1


def test_a_run_is_written_down_once_and_never_repeated_after_it_finished(
    with_ids: Database,  # noqa: F811
    sched_settings: Settings,  # noqa: F811
) -> None:
    scheduled = at(9, 30)
    first = runs.mark(with_ids, "a", MORNING, scheduled)
    assert first is not None
    assert runs.mark(with_ids, "b", MORNING, scheduled) == first  # a restart before it ran
    install(Runtime(with_ids, sched_settings, runner="b", clock=lambda: scheduled))
    token = runs.current.set((first, scheduled))
    try:
        jobs.morning("Asia/Shanghai")
    finally:
        runs.current.reset(token)
    with with_ids.session() as s:
        [row] = s.scalars(select(JobRun).where(JobRun.job_id == MORNING)).all()
    assert (row.id, row.status, row.runner) == (first, "ok", "b")
    assert runs.mark(with_ids, "c", MORNING, scheduled) is None  # done: a second leader skips


def test_a_run_another_leader_finished_is_skipped_and_the_job_stays_runnable(
    services: Services,  # noqa: F811
    with_ids: Database,  # noqa: F811
) -> None:
    with with_ids.uow() as uow:  # another leader already ran today's 09:30
        uow.session.add(
            JobRun(job_id=MORNING, scheduled_for=at(9, 30), status="ok", runner="elsewhere")
        )
        uow.commit()
    with time_machine.travel(at(9, 29, 58), tick=True):
        service = services(name="late-twin")
        wait_for(lambda: service.scheduler is not None)
        sched = service.scheduler
        assert sched is not None
        wait_for(lambda: sched.get_job(MORNING).next_run_time == at(9, 30, day_offset=1))
        executor = sched._lookup_executor("default")
        # the skip went through the pool, so it is not counted as a run still going on
        wait_for(lambda: executor._instances.get(MORNING, 0) == 0)
        services.stop_all()
    assert pushes(with_ids) == []
    assert [r.status for r in job_runs(with_ids, MORNING)] == ["ok"]
