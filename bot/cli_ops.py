"""``scrm scheduler``, ``scrm wecom`` and ``scrm slack``: running jobs and channel upkeep."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy import case, select

from bot.cli_common import console, database, err, settings_or_exit

scheduler_app = typer.Typer(help="Scheduled jobs (run standalone, or inside `scrm serve`).")
wecom_app = typer.Typer(help="WeCom customer contacts and tags.", no_args_is_help=True)


def _wecom():  # type: ignore[no-untyped-def]
    settings = settings_or_exit()
    if not settings.wecom_enabled:
        err.print("WeCom is not configured: set SCRM_WECOM_CORP_ID, _SECRET, _TOKEN and _AES_KEY.")
        raise typer.Exit(2)
    from integrations.wecom.sender import WecomContext

    db = database(settings)
    return db, WecomContext.build(lambda: db, settings)


@wecom_app.command("sync")
def wecom_sync() -> None:
    """Full customer-contact sync: every follow user's contacts, relations and tags."""
    from integrations.wecom.contacts import sync_all

    db, ctx = _wecom()
    try:
        with Progress(TextColumn("follow users"), BarColumn(), MofNCompleteColumn()) as bar:
            task = bar.add_task("sync", total=None)
            report = sync_all(
                ctx, lambda done, total: bar.update(task, completed=done, total=total)
            )
        console.print(
            f"{report.follow_users} follow users, {report.contacts} contacts, "
            f"{report.relations} relations ({report.pages} pages)"
        )
    finally:
        db.dispose()


@wecom_app.command("reconcile")
def wecom_reconcile() -> None:
    """Compare local and WeCom tags and contacts, repair the drift, and report it."""
    from integrations.wecom.tags import reconcile

    db, ctx = _wecom()
    try:
        for line in reconcile(ctx).lines():
            console.print(line)
    finally:
        db.dispose()


@scheduler_app.callback(invoke_without_command=True)
def scheduler_run(ctx: typer.Context) -> None:
    """Run the scheduler in this process until Ctrl-C (one leader among all that run it)."""
    if ctx.invoked_subcommand is not None:
        return
    import signal
    import threading

    from bot.scheduler.runtime import Runtime
    from bot.scheduler.service import SchedulerService, runner_name

    settings = settings_or_exit()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    db = database(settings)
    hooks: dict[str, Any] = {}
    # The scheduler only enqueues; web replicas' outbox pumps send. Channel features it calls:
    if settings.slack_enabled:
        from integrations.slack.digest import send_digest

        hooks["send_digest"] = send_digest
    if settings.wecom_enabled:
        from integrations.wecom.wiring import nightly_reconcile_hook

        hooks["wecom_reconcile"] = nightly_reconcile_hook
    service = SchedulerService(Runtime(db, settings, runner_name(), hooks=hooks))
    service.start()
    console.print(
        f"Scheduler {service.rt.runner} running (standby until it holds the leader lock). Ctrl-C stops."
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.stop()
        db.dispose()


@scheduler_app.command("status")
def scheduler_status() -> None:
    """List the scheduled jobs with their next and last runs, and the current leader."""
    from sqlalchemy import func, inspect

    from bot.scheduler.leader import current_leader
    from storage.models import JobRun

    settings = settings_or_exit()
    db = database(settings)
    console.print(f"Leader: {current_leader(db) or 'none (no scheduler is running)'}")
    # Fits an 80-column terminal: no box, job ids never cut, times as MM-DD HH:MM (local).
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("job", no_wrap=True)
    for name in ("next run", "last run", "last", "runs", "failed", "missed"):
        # numbers right-aligned; every column kept whole
        table.add_column(
            name, no_wrap=True, justify="right" if name in ("runs", "failed", "missed") else "left"
        )
    stamp = "%m-%d %H:%M"
    next_runs: dict[str, str] = {}
    if inspect(db.engine).has_table("apscheduler_jobs"):
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        store = SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")
        for job in store.get_all_jobs():
            when = job.next_run_time
            next_runs[job.id] = when.astimezone(settings.tz).strftime(stamp) if when else "paused"
    with db.session() as s:
        stats = {
            job_id: (last, count, failed, missed)
            for job_id, last, count, failed, missed in s.execute(
                select(
                    JobRun.job_id,
                    func.max(JobRun.started_at),
                    func.count(),
                    func.sum(case((JobRun.status == "failed", 1), else_=0)),
                    func.sum(case((JobRun.status == "missed", 1), else_=0)),
                ).group_by(JobRun.job_id)
            )
        }
        last_status = {
            job_id: status
            for job_id, status in s.execute(
                select(JobRun.job_id, JobRun.status).where(
                    JobRun.id.in_(select(func.max(JobRun.id)).group_by(JobRun.job_id))
                )
            )
        }
    for job_id in sorted(set(next_runs) | set(stats)):
        last, count, failed, missed = stats.get(job_id, (None, 0, 0, 0))
        table.add_row(
            job_id,
            next_runs.get(job_id, "—"),
            last.astimezone(settings.tz).strftime(stamp) if last else "—",
            last_status.get(job_id, "—"),
            str(count),
            str(failed or 0),
            str(missed or 0),
        )
    console.print(table)
    db.dispose()


slack_app = typer.Typer(help="Slack (Socket Mode for local development).", no_args_is_help=True)


@slack_app.command("socket")
def slack_socket() -> None:
    """Connect to Slack over Socket Mode (needs SCRM_SLACK_APP_TOKEN); no public URL needed."""
    import asyncio

    from integrations.slack.socket import run

    settings = settings_or_exit()
    database(settings).dispose()  # refuse a missing or outdated store before connecting
    console.print("Slack Socket Mode: connecting… (Ctrl-C stops)")
    try:
        asyncio.run(run(settings))
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass


def doctor(
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what is found (without it: report only)")
    ] = False,
) -> None:
    """Check the store for what older versions may have left: orders, tags, relations, tasks
    or stats still on merged customers, and stats that do not add up to the orders.

    Without --repair it only reports (exit 1 when something is wrong). With --repair it
    fixes everything in one transaction and reports what it changed; safe to run again.
    """
    from bot.services import doctor as checks

    settings = settings_or_exit()
    db = database(settings)
    try:
        with db.uow() as uow:
            found = checks.diagnose(uow.session)
            if found.clean:
                console.print(
                    "The store is sound: nothing is left on merged customers, and every "
                    "customer's stats add up to their orders."
                )
                return
            console.print("Found:", style="bold")
            for line in found.lines():
                console.print(f"  - {line}", markup=False)
            if not repair:
                console.print(
                    "Nothing was changed. Run `scrm doctor --repair` to fix these "
                    "(one transaction; safe to run again).",
                    markup=False,
                )
                raise typer.Exit(1)
            done = checks.repair(uow.session, found)
            left = checks.diagnose(uow.session)
            uow.commit()
    finally:
        db.dispose()
    console.print("Repaired:", style="bold")
    for line in done.lines():
        console.print(f"  - {line}", markup=False)
    if not left.clean:
        err.print("Still wrong after the repair (look at these by hand):", style="red")
        for line in left.lines():
            err.print(f"  - {line}", markup=False)
        raise typer.Exit(1)
