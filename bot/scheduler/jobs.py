"""The scheduled jobs. Each is idempotent: running it twice (a restart, two leaders) changes
nothing the second time, because tasks are unique per guide and day and every push carries an
outbox key (``tasks:{guide}:{date}``, ``digest:{id}:{date}`` …)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.chat.actors import from_staff
from bot.chat.types import Channel, Reply
from bot.commands import REGISTRY
from bot.commands import tasks as tasks_command
from bot.commands import team as team_command
from bot.commands.base import Context
from bot.lifecycle import recompute
from bot.lifecycle.tasks import generate
from bot.outbox import OutboxWorker
from bot.scheduler import runs, runtime
from bot.scheduler.pushes import evening_of, push_reply
from storage.models import JobRun, OutboxMessage, Staff, Store, Task

log = logging.getLogger(__name__)


def _recorded(job_id: str, work: Callable[[runtime.Runtime], str]) -> None:
    rt = runtime.get()
    started = time.perf_counter()
    claimed = runs.current.get()  # the row the scheduler wrote down before running us
    with rt.db.uow() as uow:
        run = uow.session.get(JobRun, claimed[0]) if claimed else None
        if run is None:  # run by hand (CLI, tests): a row of its own
            run = JobRun(job_id=job_id, scheduled_for=rt.clock())
            uow.session.add(run)
        run.status, run.started_at, run.runner = "running", rt.clock(), rt.runner
        uow.commit()
        run_id = run.id
    status, detail = "ok", ""
    try:
        detail = work(rt)
    except Exception as exc:
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("job %s failed", job_id)
    seconds = time.perf_counter() - started
    with rt.db.uow() as uow:
        row = uow.session.get(JobRun, run_id)
        assert row is not None
        row.status, row.detail, row.finished_at = status, detail[:2000], rt.clock()
        uow.commit()
    if rt.metrics is not None:
        name = job_id.split(":")[0]
        rt.metrics.job_runs.labels(name, status).inc()
        rt.metrics.job_seconds.labels(name).observe(seconds)


def _channel_of(staff: Staff) -> tuple[str, str] | None:
    if staff.wecom_userid:
        return "wecom", staff.wecom_userid
    if staff.slack_user_id:
        return "slack", staff.slack_user_id
    return None


def lifecycle() -> None:
    def work(rt: runtime.Runtime) -> str:
        now = rt.clock()
        if now.astimezone(rt.settings.tz).weekday() == rt.settings.refit_weekday:
            report = recompute.full(rt.db, rt.settings, now)
        else:
            report = recompute.incremental(rt.db, rt.settings, now)
        return f"{report.mode}: {report.scored} scored, refitted={report.refitted}"

    _recorded("lifecycle", work)


def wecom_reconcile() -> None:
    def work(rt: runtime.Runtime) -> str:
        hook = rt.hooks.get("wecom_reconcile")
        if hook is None:
            return "skipped: WeCom is not configured"
        return str(hook(rt.db, rt.settings))

    _recorded("wecom_reconcile", work)


def morning(zone: str) -> None:
    """Task generation, then each guide's list as one push (``tasks:{guide}:{date}``).

    Pushes are committed 50 guides at a time and a guide whose list is already queued is
    skipped, so a run cut short (a killed leader) keeps its progress and the rerun is cheap.
    """

    def work(rt: runtime.Runtime) -> str:
        tz = ZoneInfo(zone)
        now = rt.clock()
        day = now.astimezone(tz).date()
        generate(rt.db, rt.settings, day)
        with rt.db.session() as s:
            stores = select(Store.id).where(
                or_(
                    Store.timezone == zone,
                    *([Store.timezone.is_(None)] if zone == rt.settings.timezone else []),
                )
            )
            guide_ids = list(
                s.scalars(
                    select(Staff.id)
                    .where(
                        Staff.role == "guide", Staff.active.is_(True), Staff.store_id.in_(stores)
                    )
                    .order_by(Staff.code)
                )
            )
        pushed = 0
        for i in range(0, len(guide_ids), 50):
            with rt.db.uow() as uow:
                pushed += _push_lists(uow.session, rt, guide_ids[i : i + 50], day, now)
                uow.commit()
        return f"{day}: {pushed} task lists queued (an already queued list is not queued again)"

    _recorded(f"morning:{zone}", work)


def _push_lists(
    s: Session, rt: runtime.Runtime, guide_ids: list[int], day: date, now: datetime
) -> int:
    guides = s.scalars(select(Staff).where(Staff.id.in_(guide_ids)).order_by(Staff.code)).all()
    keys = {g.id: f"tasks:{g.code}:{day.isoformat()}" for g in guides}
    queued = set(
        s.scalars(
            select(OutboxMessage.idempotency_key).where(
                OutboxMessage.idempotency_key.in_(list(keys.values()))
            )
        )
    )
    pushed = 0
    for guide in guides:
        target = _channel_of(guide)
        if target is None or keys[guide.id] in queued:
            continue
        if not s.scalar(
            select(Task.id)
            .where(Task.guide_id == guide.id, Task.day == day, Task.status == "open")
            .limit(1)
        ):
            continue  # an empty list is not a message
        ctx = Context(from_staff(s, guide, Channel(target[0])), s, rt.settings, now, REGISTRY)
        reply = tasks_command.handle(ctx, tasks_command.Args())
        push_reply(
            s,
            settings=rt.settings,
            channel=target[0],
            target=target[1],
            reply=reply,
            key=keys[guide.id],
            now=now,
            expires_at=evening_of(day, rt.settings),
        )
        pushed += 1
    return pushed


def _manager_push(job_id: str, days: int, key: Callable[[Staff, date], str]) -> None:
    def work(rt: runtime.Runtime) -> str:
        now = rt.clock()
        day = now.astimezone(rt.settings.tz).date()
        pushed = 0
        with rt.db.uow() as uow:
            s = uow.session
            for manager in s.scalars(
                select(Staff).where(Staff.role == "manager", Staff.active.is_(True))
            ):
                target = _channel_of(manager)
                if target is None:
                    continue
                ctx = Context(
                    from_staff(s, manager, Channel(target[0])), s, rt.settings, now, REGISTRY
                )
                reply: Reply = team_command.handle(ctx, team_command.Args(days, None))
                if reply.table is None or all(
                    row[1] == "0/0" and row[2] == "—" for row in reply.table.rows
                ):
                    continue  # nothing happened: no message
                push_reply(
                    s,
                    settings=rt.settings,
                    channel=target[0],
                    target=target[1],
                    reply=reply,
                    key=key(manager, day),
                    now=now,
                    expires_at=evening_of(day, rt.settings),
                )
                pushed += 1
            uow.commit()
        return f"{pushed} managers"

    _recorded(job_id, work)


def manager_summary() -> None:
    _manager_push("manager_summary", 1, lambda m, d: f"summary:{m.code}:{d.isoformat()}")


def weekly_team() -> None:
    _manager_push(
        "weekly_team",
        7,
        lambda m, d: f"weekly:{m.code}:{d.isocalendar().year}-W{d.isocalendar().week:02d}",
    )


def digest(subscription_id: int) -> None:
    def work(rt: runtime.Runtime) -> str:
        hook = rt.hooks.get("send_digest")
        if hook is None:
            return "skipped: Slack is not configured"
        return str(hook(rt.db, rt.settings, subscription_id, rt.clock()))

    _recorded(f"digest:{subscription_id}", work)


def outbox_sweep() -> None:
    """Send what is due when this process has senders; otherwise web replicas' pumps do."""

    def work(rt: runtime.Runtime) -> str:
        metrics = rt.metrics
        worker = OutboxWorker(
            rt.db,
            rt.senders,
            clock=rt.clock,
            on_event=(
                (lambda channel, outcome: metrics.pushes.labels(channel, outcome).inc())
                if metrics is not None
                else None
            ),
        )
        # Expiry runs here too, so pushes for a channel no process can send (not configured)
        # do not stay pending forever.
        expired = worker.expire()
        if not rt.senders:
            return f"expired {expired}; no senders in this process"
        worker.drain(max_rounds=50)
        s = worker.stats
        return f"sent {s.sent}, retried {s.retried}, dead {s.dead}, expired {s.expired}"

    _recorded("outbox_sweep", work)


def missed(job_id: str, scheduled: datetime) -> None:
    """Called by the service when a run fell outside the grace period: record and tell admins."""
    rt = runtime.get()
    now = rt.clock()
    detail = "the process was down past the grace period; not sent late"
    with rt.db.uow() as uow:
        s = uow.session
        left = s.scalars(
            select(JobRun).where(
                JobRun.job_id == job_id,
                JobRun.scheduled_for == scheduled,
                JobRun.status.in_(runs.UNFINISHED),
            )
        ).all()
        for row in left:  # written down before the run (see bot.scheduler.runs)
            row.status, row.finished_at, row.detail = "missed", now, detail
        if not left:
            s.add(
                JobRun(
                    job_id=job_id,
                    scheduled_for=scheduled,
                    started_at=now,
                    finished_at=now,
                    status="missed",
                    runner=rt.runner,
                    detail=detail,
                )
            )
        local = scheduled.astimezone(rt.settings.tz).strftime("%Y-%m-%d %H:%M")
        text = (
            f"定时任务 {job_id} 在 {local} 错过了（服务停机超过宽限期），没有补发。\n"
            f"Scheduled job {job_id} for {local} was missed (down past the grace period) and was not sent late."
        )
        for admin in s.scalars(select(Staff).where(Staff.role == "admin", Staff.active.is_(True))):
            target = _channel_of(admin)
            if target:
                push_reply(
                    s,
                    settings=rt.settings,
                    channel=target[0],
                    target=target[1],
                    reply=Reply(text=text),
                    key=f"missed:{job_id}:{scheduled.isoformat()}:{admin.code}",
                    now=now,
                )
        uow.commit()
    if rt.metrics is not None:
        rt.metrics.job_runs.labels(job_id.split(":")[0], "missed").inc()


__all__ = [
    "digest",
    "lifecycle",
    "manager_summary",
    "missed",
    "morning",
    "outbox_sweep",
    "wecom_reconcile",
    "weekly_team",
]
