"""The scheduler with a frozen and fast-forwarded clock: local fire times, a restart across
09:30 pushing once, misses past the grace period reported instead of sent, two schedulers on
one PostgreSQL pushing once, a killed leader replaced, quiet hours."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from bot.chat.types import Reply
from bot.scheduler import jobs
from bot.scheduler.pushes import after_quiet_hours, push_reply
from bot.scheduler.runtime import Runtime, install
from bot.scheduler.service import SchedulerService
from bot.settings import Settings
from storage.db import Database
from storage.models import DigestSubscription, JobRun, OutboxMessage, Staff
from tests.test_tasks import NOW, cfg, shop  # noqa: F401  (fixtures)

SH = ZoneInfo("Asia/Shanghai")
DAY = NOW.astimezone(SH).date()


def at(hh: int, mm: int, ss: int = 0, day_offset: int = 0) -> datetime:
    return datetime.combine(DAY + timedelta(days=day_offset), datetime.min.time(), SH).replace(
        hour=hh, minute=mm, second=ss
    )


def wait_for(check: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def sched_settings(cfg: Settings) -> Settings:  # noqa: F811
    return cfg.model_copy(update={"leader_poll_seconds": 0.2, "misfire_grace_minutes": 120})


@pytest.fixture
def with_ids(shop: Database) -> Database:  # noqa: F811
    with shop.uow() as uow:
        s = uow.session
        for code, wecom in (("G01", "wangfang"), ("G03", "amy"), ("M01", "zhou")):
            s.get(Staff, s.scalar(select(Staff.id).where(Staff.code == code))).wecom_userid = wecom  # type: ignore[union-attr]
        s.add(Staff(code="A01", name="管理员", role="admin", wecom_userid="admin1"))
        uow.commit()
    return shop


class Services:
    """Starts schedulers; ``stop_all`` must run while the clock is still frozen."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings, self.started = db, settings, []  # type: ignore[var-annotated]

    def __call__(self, db: Database | None = None, name: str = "a") -> SchedulerService:
        service = SchedulerService(
            Runtime(
                db or self.db, self.settings, runner=f"test-{name}", clock=lambda: datetime.now(UTC)
            )
        )
        service.start()
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()


@pytest.fixture
def services(with_ids: Database, sched_settings: Settings) -> Iterator[Services]:
    svc = Services(with_ids, sched_settings)
    yield svc
    svc.stop_all()


def pushes(db: Database, prefix: str = "tasks:") -> list[OutboxMessage]:
    with db.session() as s:
        return list(
            s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith(prefix)))
        )


def runs(db: Database, job: str, status: str | None = None) -> list[JobRun]:
    with db.session() as s:
        q = select(JobRun).where(JobRun.job_id == job)
        if status:
            q = q.where(JobRun.status == status)
        return list(s.scalars(q))


def test_every_job_is_scheduled_at_its_local_time(services, with_ids: Database) -> None:  # type: ignore[no-untyped-def]
    with with_ids.uow() as uow:
        uow.session.add(
            DigestSubscription(
                staff_id=1,
                channel="slack",
                target="C1",
                frequency="weekly",
                weekday=4,
                time_of_day="08:15",
                timezone="Europe/Berlin",
            )
        )
        uow.commit()
    with time_machine.travel(at(8, 0), tick=True):
        service = services()
        wait_for(lambda: service.scheduler is not None)
        sched = service.scheduler
        assert sched is not None

        def nxt(job_id: str) -> datetime:
            return sched.get_job(job_id).next_run_time  # type: ignore[no-any-return]

        assert nxt("morning:Asia/Shanghai") == at(9, 30)
        assert nxt("lifecycle") == at(2, 0, day_offset=1)
        assert nxt("wecom_reconcile") == at(3, 0, day_offset=1)
        assert nxt("manager_summary") == at(18, 30)
        weekly = nxt("weekly_team").astimezone(SH)
        assert weekly.weekday() == 0 and (weekly.hour, weekly.minute) == (9, 0)
        digest = nxt("digest:1").astimezone(ZoneInfo("Europe/Berlin"))
        assert digest.weekday() == 4 and (digest.hour, digest.minute) == (8, 15)
        services.stop_all()


def test_morning_push_fires_at_0930_once_per_guide(services, with_ids: Database) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(at(9, 29, 58), tick=True):
        services()
        wait_for(lambda: bool(runs(with_ids, "morning:Asia/Shanghai", "ok")))
        services.stop_all()
    keys = sorted(m.idempotency_key for m in pushes(with_ids))
    assert keys == [f"tasks:G01:{DAY}", f"tasks:G03:{DAY}"]
    g01 = next(m for m in pushes(with_ids) if m.target == "wangfang")
    assert g01.kind == "reply" and "今日任务" in g01.payload["reply"]["title"]
    assert g01.payload["reply"]["items"][0]["actions"][0]["command"].startswith("完成 #")


def test_a_restart_across_0930_pushes_once(services, with_ids: Database) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(at(9, 0), tick=True):
        first = services(name="before")
        wait_for(lambda: first.scheduler is not None)
        first.stop()  # down from 09:00 …
    with time_machine.travel(at(9, 45), tick=True):  # … back at 09:45, inside the grace period
        second = services(name="after")
        wait_for(lambda: bool(runs(with_ids, "morning:Asia/Shanghai", "ok")))
        second.stop()
    with time_machine.travel(at(9, 50), tick=True):
        third = services(name="again")
        wait_for(lambda: third.scheduler is not None)
        time.sleep(1)
        services.stop_all()
    assert len(runs(with_ids, "morning:Asia/Shanghai", "ok")) == 1
    assert len(pushes(with_ids)) == 2  # one per guide


def test_a_push_missed_past_the_grace_period_is_reported_not_sent(
    services, with_ids: Database
) -> None:  # type: ignore[no-untyped-def]
    with time_machine.travel(at(9, 0), tick=True):
        first = services(name="before")
        wait_for(lambda: first.scheduler is not None)
        first.stop()
    with time_machine.travel(at(21, 0), tick=True):  # down until 21:00
        services(name="late")
        wait_for(lambda: bool(runs(with_ids, "morning:Asia/Shanghai", "missed")))
        services.stop_all()
    assert pushes(with_ids) == []
    alerts = pushes(with_ids, "missed:morning:")
    assert [a.target for a in alerts] == ["admin1"]
    assert "was missed" in alerts[0].payload["reply"]["text"]
    assert alerts[0].next_attempt_at == at(9, 0, day_offset=1)  # quiet hours: told in the morning


def test_running_a_job_twice_pushes_once(with_ids: Database, sched_settings: Settings) -> None:
    install(
        Runtime(with_ids, sched_settings, runner="twice", clock=lambda: at(9, 30).astimezone(UTC))
    )
    jobs.morning("Asia/Shanghai")
    jobs.morning("Asia/Shanghai")  # a second leader, or a retry
    assert len(pushes(with_ids)) == 2
    assert len(runs(with_ids, "morning:Asia/Shanghai", "ok")) == 2


def test_quiet_hours_hold(sched_settings: Settings, db: Database) -> None:
    assert after_quiet_hours(at(10, 0), sched_settings) == at(10, 0)
    assert after_quiet_hours(at(22, 30), sched_settings) == at(9, 0, day_offset=1)
    assert after_quiet_hours(at(6, 0), sched_settings) == at(9, 0)
    with db.uow() as uow:
        push_reply(
            uow.session,
            settings=sched_settings,
            channel="wecom",
            target="g",
            reply=Reply(text="hi"),
            key="late",
            now=at(23, 0),
        )
        uow.commit()
    assert pushes(db, "late")[0].next_attempt_at == at(9, 0, day_offset=1)


@pytest.fixture
def pg(with_ids: Database) -> Database:
    if with_ids.dialect != "postgresql":
        pytest.skip(
            "leader election by advisory lock is a PostgreSQL feature (SQLite runs one process)"
        )
    return with_ids


def test_two_schedulers_on_one_postgres_push_once(services, pg: Database) -> None:  # type: ignore[no-untyped-def]
    other = Database(pg.url)
    try:
        with time_machine.travel(at(9, 29, 57), tick=True):
            a = services(name="a")
            b = services(other, name="b")
            wait_for(lambda: bool(runs(pg, "morning:Asia/Shanghai", "ok")))
            time.sleep(1.5)
            assert (a.scheduler is None) != (b.scheduler is None)  # exactly one leads
            services.stop_all()
        assert len(runs(pg, "morning:Asia/Shanghai", "ok")) == 1
        assert len(pushes(pg)) == 2
    finally:
        other.dispose()


def test_a_killed_leader_is_replaced(services, pg: Database) -> None:  # type: ignore[no-untyped-def]
    other = Database(pg.url)
    try:
        a = services(name="a")
        wait_for(lambda: a.scheduler is not None)
        b = services(other, name="b")
        time.sleep(0.6)
        assert b.scheduler is None
        from bot.scheduler.leader import current_leader

        assert current_leader(pg) == "test-a"
        a._stop.set()  # the process dies: its connection (and the lock) go with it
        a.leadership._conn.invalidate()  # type: ignore[union-attr]
        started = time.monotonic()
        wait_for(lambda: b.scheduler is not None, timeout=60)
        assert time.monotonic() - started < 60
        assert current_leader(pg) == "test-b"
        services.stop_all()
    finally:
        other.dispose()


def test_a_paused_digest_loses_its_job_and_a_resumed_one_gets_it_back(  # type: ignore[no-untyped-def]
    services, with_ids: Database
) -> None:
    with with_ids.uow() as uow:
        for target in ("C1", "C2"):
            uow.session.add(DigestSubscription(staff_id=1, channel="slack", target=target))
        uow.commit()
    with time_machine.travel(at(8, 0), tick=True):
        service = services()
        wait_for(lambda: service.scheduler is not None)
        sched = service.scheduler
        assert sched is not None

        def digest_jobs() -> list[str]:
            return sorted(j.id for j in sched.get_jobs() if j.id.startswith("digest:"))

        assert digest_jobs() == ["digest:1", "digest:2"]
        with with_ids.uow() as uow:
            row = uow.session.get(DigestSubscription, 2)
            assert row is not None
            row.paused = True
            uow.commit()
        service.sync_digests()  # the digest_sync job does this every 5 minutes
        assert digest_jobs() == ["digest:1"]
        with with_ids.uow() as uow:
            row = uow.session.get(DigestSubscription, 2)
            assert row is not None
            row.paused = False
            uow.commit()
        service.sync_digests()
        assert digest_jobs() == ["digest:1", "digest:2"]
        services.stop_all()


def test_scheduler_status_lists_jobs_their_runs_and_the_leader(  # type: ignore[no-untyped-def]
    services, with_ids: Database, cli
) -> None:
    with time_machine.travel(at(9, 29, 58), tick=True):
        services()
        wait_for(lambda: bool(runs(with_ids, "morning:Asia/Shanghai", "ok")))
        code, out = cli("scheduler", "status")
        services.stop_all()
    assert code == 0, out
    leader = "test-a" if with_ids.dialect == "postgresql" else "SQLite has no leader election"
    assert leader in out.splitlines()[0]
    morning = next(line for line in out.splitlines() if "morning:Asia" in line)
    assert f"{DAY + timedelta(days=1):%m-%d} 09:30" in morning  # the next run
    assert f"{DAY:%m-%d} 09:30" in morning and " ok " in morning  # the last one
    assert any("lifecycle" in line and "—" in line for line in out.splitlines())  # not run yet
