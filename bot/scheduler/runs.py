"""Scheduled runs that survive a killed leader.

APScheduler hands a due job to a thread and *then* moves the job in its store to the next
fire time. A leader killed while the job runs (or in between) leaves a store that says the
run happened, and nothing sent. So every run of a cron job is written down first:

1. ``RecordingExecutor`` writes a ``due`` row in ``job_runs`` for (job, scheduled time)
   before the job reaches a thread, so before the store moves on. A row already finished
   for that time means another leader ran it: the run is skipped.
2. The job claims that row (``running``) and finishes it (``ok``/``failed``), see
   ``jobs._recorded``; a run past the grace period marks it ``missed``.
3. A new leader, before it starts, calls ``recover``: a row left ``due`` or ``running`` by
   a runner that is gone is run again at its own scheduled time when still inside the grace
   period (jobs are idempotent: outbox keys), or reported as missed.

Interval jobs (the outbox sweep, the digest sync) are not written down: a lost one is made
up by the next one a minute later.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from storage.db import Database
from storage.models import JobRun

log = logging.getLogger(__name__)

UNFINISHED = ("due", "running")
FINISHED = ("ok", "failed", "missed")

# (job_runs id, scheduled time) of the run the current thread is executing, if any.
current: contextvars.ContextVar[tuple[int, datetime] | None] = contextvars.ContextVar(
    "scrm_scheduled_run", default=None
)


def mark(db: Database, runner: str, job_id: str, scheduled: datetime) -> int | None:
    """The ``job_runs`` row for this run, created ``due`` if new; None if already finished."""
    with db.uow() as uow:
        s = uow.session
        rows = s.scalars(
            select(JobRun)
            .where(JobRun.job_id == job_id, JobRun.scheduled_for == scheduled)
            .order_by(JobRun.id.desc())
        ).all()
        if any(r.status in FINISHED for r in rows):
            return None
        if rows:
            return rows[0].id
        row = JobRun(job_id=job_id, scheduled_for=scheduled, status="due", runner=runner)
        s.add(row)
        uow.commit()
        return row.id


class RecordingExecutor(ThreadPoolExecutor):
    """A thread pool that writes each cron run down before running it (see the module doc)."""

    def __init__(self, db: Database, runner: str, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self.db, self.runner = db, runner

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        if not isinstance(job.trigger, CronTrigger):
            super()._do_submit_job(job, run_times)
            return
        scheduled = run_times[-1]
        try:
            run_id = mark(self.db, self.runner, job.id, scheduled)
        except Exception:
            # The database is unreachable: run anyway, the job records itself when it can.
            log.exception("could not record the run of %s at %s", job.id, scheduled)
            super()._do_submit_job(job, run_times)
            return

        def skipped() -> list[Any]:
            log.info("%s at %s already ran elsewhere; not running it again", job.id, scheduled)
            return []  # no events

        def marked() -> Any:
            assert run_id is not None
            token = current.set((run_id, scheduled))
            try:
                return run_job(job, job._jobstore_alias, run_times, self._logger.name)
            finally:
                current.reset(token)

        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        # Even a skipped run goes through the pool: the executor counts a submitted job as a
        # running instance until its callback reports back, and max_instances is 1.
        self._pool.submit(marked if run_id is not None else skipped).add_done_callback(done)


class SharedEngineJobStore(SQLAlchemyJobStore):
    """The job store on the product's engine. APScheduler disposes its store's engine on
    shutdown; this one belongs to the whole process, so a leader standing down keeps it."""

    def shutdown(self) -> None:
        pass


def recover(
    db: Database,
    sched: BaseScheduler,
    now: datetime,
    grace: timedelta,
    report_missed: Callable[[str, datetime], None],
) -> list[str]:
    """Rerun, or report, runs a previous leader left unfinished. Call before ``resume``."""
    with db.session() as s:
        left = s.execute(
            select(JobRun.job_id, JobRun.scheduled_for, JobRun.runner)
            .where(JobRun.status.in_(UNFINISHED), JobRun.scheduled_for.is_not(None))
            .distinct()
        ).all()
    rerun: list[str] = []
    for job_id, scheduled, runner in left:
        assert scheduled is not None  # filtered above
        job = sched.get_job(job_id)
        if job is None:
            _close(db, job_id, scheduled, "interrupted", "the job no longer exists")
        elif now - scheduled > grace:
            report_missed(job_id, scheduled)
        else:
            log.warning(
                "%s at %s was left unfinished by %s; running it again", job_id, scheduled, runner
            )
            if job.next_run_time is None or job.next_run_time > scheduled:
                job.modify(next_run_time=scheduled)
            rerun.append(job_id)
    return rerun


def _close(db: Database, job_id: str, scheduled: datetime, status: str, detail: str) -> None:
    with db.uow() as uow:
        for row in uow.session.scalars(
            select(JobRun).where(
                JobRun.job_id == job_id,
                JobRun.scheduled_for == scheduled,
                JobRun.status.in_(UNFINISHED),
            )
        ):
            row.status, row.detail = status, detail
        uow.commit()
