"""``scrm tasks generate`` and ``scrm tasks push``: the daily task lists from the command line."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from sqlalchemy import distinct, func, select

from bot.cli_common import console, database, err, now_for, settings_or_exit
from bot.settings import Settings

tasks_app = typer.Typer(help="Daily guide task lists.", no_args_is_help=True)

NO_CHANNEL = (
    "Nothing can be sent: no chat channel is configured here. WeCom needs SCRM_WECOM_CORP_ID, "
    "SCRM_WECOM_SECRET, SCRM_WECOM_TOKEN and SCRM_WECOM_AES_KEY; Slack needs "
    "SCRM_SLACK_BOT_TOKEN and SCRM_SLACK_SIGNING_SECRET. Nothing was queued. Set one of them "
    "and run `scrm tasks push` again; meanwhile guides see their lists with `任务` "
    "(`scrm chat --as CODE --command 任务`, or the playground)."
)


@tasks_app.command("generate")
def tasks_generate(
    date_: Annotated[
        str | None, typer.Option("--date", help="Local date (YYYY-MM-DD); default today")
    ] = None,
) -> None:
    """Build today's task list for every guide (safe to run again: nothing doubles)."""
    from bot.lifecycle.tasks import generate

    settings = settings_or_exit()
    db = database(settings)
    day = now_for(settings, date_).astimezone(settings.tz).date()
    try:
        report = generate(db, settings, day)
        if report.created == 0 and report.carried == 0:
            console.print(_nothing_new(db, day))
            return
    finally:
        db.dispose()
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(report.by_kind.items())) or "none"
    console.print(
        f"Tasks for {day}: {report.created} new for {report.guides} guides ({kinds}); "
        f"{report.carried} carried over, {report.expired} expired, {report.holdout} held out."
    )


def _nothing_new(db: Any, day: date) -> str:
    """Why a run made no task: the day was generated before, or nobody is due."""
    from storage.models import Staff, Task

    with db.session() as s:
        tasks, guides = s.execute(
            select(func.count(Task.id), func.count(distinct(Task.guide_id))).where(Task.day == day)
        ).one()
        active = s.scalar(select(func.count()).where(Staff.role == "guide", Staff.active.is_(True)))
    if tasks:
        return (
            f"Tasks for {day} already generated: {tasks} tasks for {guides} guides; "
            f"nothing new (running it again is safe)."
        )
    if not active:
        return (
            f"No tasks for {day}: there is no active guide. Add one with "
            f"`scrm staff add CODE NAME --store STORE`, then run this again."
        )
    return (
        f"No tasks for {day}: none of the customers of the {active} active guides needs one "
        f"today (run `scrm recompute` first if their stages are out of date)."
    )


def _channels(settings: Settings) -> set[str]:
    return {
        name
        for name, on in (("wecom", settings.wecom_enabled), ("slack", settings.slack_enabled))
        if on
    }


def _unreachable(db: Any, channels: set[str]) -> list[str]:
    """Active guides whose pushes could not be sent with the configured channels."""
    from storage.models import Staff

    out: list[str] = []
    with db.session() as s:
        for code, wecom, slack in s.execute(
            select(Staff.code, Staff.wecom_userid, Staff.slack_user_id)
            .where(Staff.role == "guide", Staff.active.is_(True))
            .order_by(Staff.code)
        ):
            # Same rule as the morning push: WeCom first, else Slack.
            channel = "wecom" if wecom else "slack" if slack else None
            if channel is None:
                out.append(f"{code} (no WeCom or Slack id)")
            elif channel not in channels:
                out.append(f"{code} ({channel} is not configured)")
    return out


@tasks_app.command("push")
def tasks_push() -> None:
    """Generate today's lists and queue each guide's list now (one push per guide and day).

    The pushes are sent by a running `scrm serve` (its outbox worker). With no WeCom or
    Slack configured nothing can be sent, and the command says so and exits 1.
    """
    from bot.scheduler import jobs
    from bot.scheduler.runtime import Runtime, install
    from storage.models import JobRun, Store

    settings = settings_or_exit()
    db = database(settings)
    try:
        channels = _channels(settings)
        if not channels:
            err.print(NO_CHANNEL, style="red", markup=False, highlight=False)
            raise typer.Exit(1)
        install(Runtime(db, settings, runner="cli"))
        zones = {settings.timezone}
        with db.session() as s:
            zones |= {z for z in s.scalars(select(Store.timezone).distinct()) if z}
            before = s.scalar(select(JobRun.id).order_by(JobRun.id.desc()).limit(1)) or 0
        for zone in sorted(zones):
            jobs.morning(zone)
        failed = False
        with db.session() as s:
            for run in s.scalars(select(JobRun).where(JobRun.id > before).order_by(JobRun.id)):
                console.print(f"{run.job_id}: {run.status} — {run.detail}")
                failed |= run.status != "ok"
        missing = _unreachable(db, channels)
    finally:
        db.dispose()
    console.print(
        f"Queued lists are sent by a running `scrm serve` (outbox worker) over {', '.join(sorted(channels))}."
    )
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        )
        err.print(
            f"[yellow]{len(missing)} guides cannot be reached and get no push:[/yellow] {shown}. "
            f"Give them a WeCom userid or Slack id (`scrm staff add CODE NAME --wecom USERID`) "
            f"or configure their channel."
        )
    if failed:
        raise typer.Exit(1)
