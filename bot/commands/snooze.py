"""Put a task off for some days; it comes back on its own.
延后任务：推迟几天，到期自动回到任务列表。

Usage: snooze N DAYS
用法：延后 序号 天数
e.g. snooze 3 2
例：延后 3 7
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.chat.types import Reply
from bot.commands.base import Command, Context, Usage
from bot.commands.taskref import TaskRef, parse_ref, resolve, today, what_happened

MAX_DAYS = 30


@dataclass(frozen=True)
class Args:
    ref: TaskRef
    days: int


def parse(args: list[str]) -> Args:
    ref = parse_ref(
        args, "写上任务序号和天数，例如：延后 2 3", "Give the task number and days, e.g. snooze 2 3"
    )
    n = ref.command()
    if len(args) < 2 or not args[1].isdigit() or not 1 <= int(args[1]) <= MAX_DAYS:
        raise Usage(
            f"天数写 1 到 {MAX_DAYS}，例如：延后 {n} 3",
            f"Days must be 1 to {MAX_DAYS}, e.g. snooze {n} 3",
        )
    return Args(ref, int(args[1]))


def handle(ctx: Context, args: Args) -> Reply:
    task, name = resolve(ctx, args.ref)
    if task.status != "open":
        return Reply(text=what_happened(ctx, task, name) or "")
    task.status, task.snoozed_until = "snoozed", today(ctx) + timedelta(days=args.days)
    return Reply(
        text=ctx.say(
            "{c} · 任务延后到 {d}",
            "{c} · task snoozed until {d}",
            c=name,
            d=task.snoozed_until.isoformat(),
        )
    )


COMMAND = Command("snooze", "延后", __doc__ or "", parse, handle)
