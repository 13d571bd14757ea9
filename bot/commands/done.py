"""Mark a task done, with an optional outcome; it is logged as a follow-up.
完成任务：标记完成并记录结果（会记为一条跟进）。

Usage: done N [OUTCOME]
用法：完成 序号 [结果]
e.g. done 2 约了周六到店
例：完成 1 已发券
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, Context, Usage
from bot.commands.tasks import task_by_number
from storage.models import Interaction


@dataclass(frozen=True)
class Args:
    number: int
    outcome: str | None


def task_number(args: list[str], zh: str, en: str) -> int:
    if not args or not args[0].isdigit() or not 1 <= int(args[0]) <= 999:
        raise Usage(zh, en)
    return int(args[0])


def parse(args: list[str]) -> Args:
    n = task_number(args, "写上任务序号，例如：完成 2", "Give the task number, e.g. done 2")
    outcome = " ".join(args[1:]).strip()[:200] or None
    return Args(n, outcome)


def handle(ctx: Context, args: Args) -> Reply:
    task = task_by_number(ctx, args.number)
    if task.status == "done":
        return Reply(
            text=ctx.say("第 {n} 号任务已经完成了。", "Task {n} is already done.", n=args.number)
        )
    task.status, task.done_at, task.outcome = "done", ctx.now, args.outcome
    ctx.session.add(
        Interaction(
            customer_id=task.customer_id,
            staff_id=ctx.actor.staff_id,
            kind="task",
            channel=ctx.actor.channel.value,
            body=args.outcome or task.kind,
            occurred_at=ctx.now,
        )
    )
    return Reply(text=ctx.say("第 {n} 号任务完成 ✓", "Task {n} done ✓", n=args.number))


COMMAND = Command("done", "完成", __doc__ or "", parse, handle)
