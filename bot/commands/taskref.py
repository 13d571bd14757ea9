"""Which task a ``done``/``snooze``/``skip`` means, and what became of it.

A typed number is the rank in today's list (``完成 3``). A button carries the task's id
(``完成 #123``) instead, so a card drawn yesterday, a profile or the App Home acts on the
task it was drawn for, never on whatever is number N now. A task carried over to a later
day (or back from a snooze) is followed to its newest copy, which is the same piece of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from bot.commands.base import CommandError, Context, Usage
from storage.models import Customer, Task

SHOWN = ("open", "done", "skipped", "snoozed")
FOLLOWED = ("carried", "resumed")  # a newer row continues this task


@dataclass(frozen=True)
class TaskRef:
    number: int | None = None  # rank in today's list, as typed
    task_id: int | None = None  # a button's stable reference

    def command(self) -> str:
        return f"#{self.task_id}" if self.task_id is not None else str(self.number)


def parse_ref(args: list[str], zh: str, en: str) -> TaskRef:
    """``3`` (today's rank) or ``#123`` (a task id); anything else is a usage error."""
    token = args[0] if args else ""
    if token.startswith("#") and token[1:].isdigit() and len(token) <= 20:
        return TaskRef(task_id=int(token[1:]))
    if token.isdigit() and 1 <= int(token) <= 999:
        return TaskRef(number=int(token))
    raise Usage(zh, en)


def today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.settings.tz).date()


def resolve(ctx: Context, ref: TaskRef) -> tuple[Task, str]:
    """The task ``ref`` names among the actor's own, and its customer's name."""
    task: Task | None
    # The row is locked (PostgreSQL) so that two taps racing on one task queue up: the
    # second then reads the first's outcome and says so, instead of doing it again.
    if ref.task_id is not None:
        task = ctx.session.get(Task, ref.task_id, with_for_update=True, populate_existing=True)
        if task is None or task.guide_id != ctx.actor.staff_id or task.status == "holdout":
            raise CommandError(
                "找不到这条任务（或它不是你的）。发“任务”看今天的列表。",
                "That task is not one of yours. Send 'tasks' to see today's list.",
            )
        if task.status in FOLLOWED:
            task = _newest(ctx, task)
    else:
        task = ctx.session.scalar(
            select(Task)
            .where(
                Task.guide_id == ctx.actor.staff_id,
                Task.day == today(ctx),
                Task.rank == ref.number,
                Task.status.in_(SHOWN),
            )
            .with_for_update()
        )
        if task is None:
            raise CommandError(
                f"今天没有第 {ref.number} 号任务。发“任务”看列表。",
                f"There is no task {ref.number} today. Send 'tasks' to see the list.",
            )
    customer = ctx.session.get(Customer, task.customer_id)
    name = (customer.name if customer else None) or f"#{task.customer_id}"
    return task, name


def _newest(ctx: Context, task: Task) -> Task:
    newer = ctx.session.scalar(
        select(Task)
        .where(
            Task.guide_id == task.guide_id,
            Task.customer_id == task.customer_id,
            Task.day > task.day,
            Task.status != "holdout",
        )
        .order_by(Task.day.desc())
        .limit(1)
        .with_for_update()
    )
    return newer or task


def what_happened(ctx: Context, task: Task, name: str) -> str | None:
    """A sentence for a task no longer open (a stale or repeated tap), or None if it is."""
    if task.status == "done":
        return ctx.say(
            "{c} 的任务已于 {d} 完成，没有再改动。",
            "{c}'s task was already done on {d}; nothing changed.",
            c=name,
            d=ctx.local(task.done_at, "%m-%d"),
        )
    if task.status == "skipped":
        return ctx.say(
            "{c} 的任务已于 {d} 跳过（{r}），没有再改动。",
            "{c}'s task was skipped on {d} ({r}); nothing changed.",
            c=name,
            d=task.day.strftime("%m-%d"),
            r=task.skip_reason or "—",
        )
    if task.status == "expired":
        # Expiry happens when the next day's list is made: the day after it was last listed.
        return ctx.say(
            "{c} 的任务已于 {d} 过期，没有再改动。",
            "{c}'s task expired on {d}; nothing changed.",
            c=name,
            d=(task.day + timedelta(days=1)).strftime("%m-%d"),
        )
    if task.status == "snoozed" and task.snoozed_until is not None:
        return ctx.say(
            "{c} 的任务已延后到 {d}。",
            "{c}'s task is snoozed until {d}.",
            c=name,
            d=task.snoozed_until.isoformat(),
        )
    if task.status != "open":
        return ctx.say(
            "{c} 的这条任务已经不在列表里了，没有改动。",
            "{c}'s task is no longer on a list; nothing changed.",
            c=name,
        )
    return None
