"""The scheduler service: APScheduler 3 with its job store in the product's database, run
only by the leader, with jobs rebuilt from settings at start-up (``replace_existing``).

Missed runs: ``coalesce`` folds a backlog into one run, and ``misfire_grace_time`` lets a run
missed by a restart still happen once, within the grace period. Beyond it APScheduler
reports EVENT_JOB_MISSED: we record the miss and tell the admins instead of pushing late.
A leader killed in the middle of a run is covered by ``bot.scheduler.runs``: every run is
written down before it starts, and the next leader finishes what was left.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select

from bot.scheduler import jobs, runs, runtime
from storage.models import DigestSubscription, Store

log = logging.getLogger(__name__)
JOBSTORE_TABLE = "apscheduler_jobs"


def runner_name() -> str:
    return f"scrm-scheduler@{socket.gethostname()}:{os.getpid()}"


def _add_keeping_overdue(
    sched: BaseScheduler, now: datetime, func: Any, trigger: Any, *, id: str, **kwargs: Any
) -> None:
    """Add or replace a job built from settings. Replacing recomputes the next run from now,
    which would silently drop a run missed while we were down; an overdue run time is kept,
    so misfire_grace_time and coalesce decide: run once, or report missed."""
    existing = sched.get_job(id)
    if (
        existing is not None
        and existing.next_run_time is not None
        and existing.next_run_time <= now
    ):
        kwargs["next_run_time"] = existing.next_run_time
    sched.add_job(func, trigger, id=id, replace_existing=True, **kwargs)


def _at(text: str) -> dict[str, int]:
    hours, minutes = text.split(":")
    return {"hour": int(hours), "minute": int(minutes)}


class SchedulerService:
    def __init__(self, rt: runtime.Runtime) -> None:
        from bot.scheduler.leader import Leadership

        self.rt = rt
        self.leadership = Leadership(rt.db, rt.runner)
        self.scheduler: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        runtime.install(self.rt)
        activate(self)
        self._thread = threading.Thread(target=self._watch, name="scheduler-leader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._stand_down()
        self.leadership.release()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                leading = self.leadership.try_acquire()
                if leading and self.scheduler is None:
                    self._lead()
                elif not leading and self.scheduler is not None:
                    self._stand_down()
            except Exception:
                # e.g. the database is down or not migrated yet: stand down, try again later
                log.exception(
                    "scheduler could not start; retrying in %.0f s",
                    self.rt.settings.leader_poll_seconds,
                )
                self._stand_down()
            self._stop.wait(self.rt.settings.leader_poll_seconds)

    def _lead(self) -> None:
        s = self.rt.settings
        sched = BackgroundScheduler(
            jobstores={
                "default": runs.SharedEngineJobStore(
                    engine=self.rt.db.engine, tablename=JOBSTORE_TABLE
                )
            },
            executors={"default": runs.RecordingExecutor(self.rt.db, self.rt.runner, 4)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": s.misfire_grace_minutes * 60,
            },
            timezone=s.tz,
        )
        sched.add_listener(self._on_missed, EVENT_JOB_MISSED)
        sched.start(paused=True)
        try:
            self.install_jobs(sched)
            runs.recover(
                self.rt.db,
                sched,
                datetime.now(s.tz),
                timedelta(minutes=s.misfire_grace_minutes),
                jobs.missed,
            )
        except Exception:
            sched.shutdown(wait=False)
            raise
        sched.resume()
        self.scheduler = sched  # published only once its jobs are in place
        log.info("scheduler started by %s", self.rt.runner)

    def _stand_down(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.pause()
                self.scheduler.shutdown(wait=False)
            except Exception:
                log.exception("scheduler shutdown failed")
            self.scheduler = None

    # jobs ---------------------------------------------------------------------------------
    def install_jobs(self, sched: BackgroundScheduler) -> None:
        s = self.rt.settings
        add = partial(_add_keeping_overdue, sched, datetime.now(s.tz))
        add(
            jobs.lifecycle,
            CronTrigger(**_at(s.lifecycle_time), timezone=s.tz),
            id="lifecycle",
        )
        add(
            jobs.wecom_reconcile,
            CronTrigger(**_at(s.reconcile_time), timezone=s.tz),
            id="wecom_reconcile",
        )
        for zone in self.store_zones():
            add(
                jobs.morning,
                CronTrigger(**_at(s.morning_push_time), timezone=ZoneInfo(zone)),
                args=[zone],
                id=f"morning:{zone}",
            )
        add(
            jobs.manager_summary,
            CronTrigger(**_at(s.manager_summary_time), timezone=s.tz),
            id="manager_summary",
        )
        add(
            jobs.weekly_team,
            CronTrigger(
                day_of_week=s.weekly_report_day, **_at(s.weekly_report_time), timezone=s.tz
            ),
            id="weekly_team",
        )
        add(jobs.outbox_sweep, IntervalTrigger(seconds=60), id="outbox_sweep")
        self.sync_digests(sched)
        add(self_sync_digests, IntervalTrigger(minutes=5), id="digest_sync")

    def store_zones(self) -> list[str]:
        with self.rt.db.session() as session:
            zones = {z for z in session.scalars(select(Store.timezone).distinct()) if z}
        return sorted(zones | {self.rt.settings.timezone})

    def sync_digests(self, sched: BackgroundScheduler | None = None) -> None:
        """One job per active subscription, at its own local time; removed when paused or gone."""
        sched = sched or self.scheduler
        if sched is None:
            return
        with self.rt.db.session() as session:
            subs = session.scalars(
                select(DigestSubscription).where(DigestSubscription.paused.is_(False))
            ).all()
        wanted = set()
        for sub in subs:
            job_id = f"digest:{sub.id}"
            wanted.add(job_id)
            extra: dict[str, Any] = (
                {"day_of_week": sub.weekday or 0} if sub.frequency == "weekly" else {}
            )
            _add_keeping_overdue(
                sched,
                datetime.now(self.rt.settings.tz),
                jobs.digest,
                CronTrigger(**_at(sub.time_of_day), timezone=ZoneInfo(sub.timezone), **extra),
                args=[sub.id],
                id=job_id,
            )
        for job in sched.get_jobs():
            if job.id.startswith("digest:") and job.id not in wanted:
                job.remove()

    def _on_missed(self, event: JobExecutionEvent) -> None:
        jobs.missed(event.job_id, event.scheduled_run_time)


_service: SchedulerService | None = None


def self_sync_digests() -> None:
    """Job entry point for the periodic digest sync (the job store keeps a function path)."""
    if _service is not None:
        _service.sync_digests()


def activate(service: SchedulerService) -> None:
    global _service
    _service = service
