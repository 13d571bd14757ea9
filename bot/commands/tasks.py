"""Today's task list: who to contact, why, and a suggested message.
今日任务：今天该联系谁、为什么、建议话术。

Usage: tasks
用法：任务
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from bot.chat.types import Action, Item, Reply
from bot.commands.base import Command, CommandError, Context, money
from bot.lifecycle.messages import KINDS
from storage.models import Customer, CustomerStats, Task

SHOWN = ("open", "done", "skipped", "snoozed")
RETENTION = ("churn_risk", "silent", "lost", "second_purchase")
MARK = {"open": "", "done": "✓ ", "skipped": "✗ ", "snoozed": "⏸ "}


@dataclass(frozen=True)
class Args:
    pass


def parse(args: list[str]) -> Args:
    return Args()


def today(ctx: Context) -> date:
    return ctx.now.astimezone(ctx.settings.tz).date()


def task_by_number(ctx: Context, number: int) -> Task:
    task = ctx.session.scalar(
        select(Task).where(
            Task.guide_id == ctx.actor.staff_id,
            Task.day == today(ctx),
            Task.rank == number,
            Task.status.in_(SHOWN),
        )
    )
    if task is None:
        raise CommandError(
            f"今天没有第 {number} 号任务。发“任务”看列表。",
            f"There is no task {number} today. Send 'tasks' to see the list.",
        )
    return task


def handle(ctx: Context, args: Args) -> Reply:
    rows = ctx.session.execute(
        select(Task, Customer.name, CustomerStats.churn_probability)
        .join(Customer, Customer.id == Task.customer_id)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Task.customer_id)
        .where(Task.guide_id == ctx.actor.staff_id, Task.day == today(ctx), Task.status.in_(SHOWN))
        .order_by(Task.rank)
    ).all()
    if not rows:
        return Reply(text=ctx.say("今天没有任务。", "No tasks today."))
    zh = ctx.actor.locale == "zh"
    words = {"done": "完成" if zh else "done", "snooze": "延后" if zh else "snooze"}
    items = []
    for task, name, churn in rows:
        kind = KINDS.get(task.kind, (task.kind, task.kind))[0 if zh else 1]
        title = f"{MARK.get(task.status, '')}{name or '#' + str(task.customer_id)} · {kind}"
        if task.value_at_risk_cents and task.kind in RETENTION:
            title += ctx.say(
                " · 年价值 {v}", " · {v}/yr at risk", v=money(task.value_at_risk_cents)
            )
        if churn is not None and task.kind in RETENTION:  # why: the expected loss ranks the list
            title += ctx.say(" · 流失概率 {p}%", " · churn {p}%", p=round(churn * 100))
        actions = []
        if task.status == "open":
            actions = [
                Action(ctx.say("完成", "Done"), f"{words['done']} {task.rank}", "primary"),
                Action(ctx.say("延后3天", "Snooze 3d"), f"{words['snooze']} {task.rank} 3"),
            ]
        items.append(Item(task.rank, title, task.suggested_message, actions))
    done = sum(1 for t, _, _ in rows if t.status == "done")
    return Reply(
        title=ctx.say(
            "今日任务 {d}（已完成 {k}/{n}）",
            "Tasks for {d} ({k}/{n} done)",
            d=today(ctx).isoformat(),
            k=done,
            n=len(rows),
        ),
        items=items,
        footer=ctx.say(
            "回复“完成 序号 结果”“延后 序号 天数”“跳过 序号 原因”。",
            "Reply 'done N [outcome]', 'snooze N DAYS' or 'skip N REASON'.",
        ),
    )


COMMAND = Command("tasks", "任务", __doc__ or "", parse, handle)
