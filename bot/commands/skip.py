"""Skip a task, with the reason (the customer is not tasked again during the cooldown).
跳过任务：写明原因（冷却期内不会再派这位客户）。

Usage: skip N REASON
用法：跳过 序号 原因
e.g. skip 4 customer moved abroad
例：跳过 4 客户已出国
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, Context, Usage
from bot.commands.done import task_number
from bot.commands.tasks import task_by_number


@dataclass(frozen=True)
class Args:
    number: int
    reason: str


def parse(args: list[str]) -> Args:
    n = task_number(
        args,
        "写上任务序号和原因，例如：跳过 2 客户出差",
        "Give the task number and a reason, e.g. skip 2 travelling",
    )
    reason = " ".join(args[1:]).strip()
    if not reason:
        raise Usage(
            f"请写跳过的原因，例如：跳过 {n} 客户出差", f"Say why, e.g. skip {n} travelling"
        )
    return Args(n, reason[:200])


def handle(ctx: Context, args: Args) -> Reply:
    task = task_by_number(ctx, args.number)
    if task.status not in ("open", "snoozed"):
        return Reply(
            text=ctx.say("第 {n} 号任务不是待办状态。", "Task {n} is not open.", n=args.number),
            kind="error",
        )
    task.status, task.skip_reason = "skipped", args.reason
    return Reply(text=ctx.say("已跳过第 {n} 号任务。", "Task {n} skipped.", n=args.number))


COMMAND = Command("skip", "跳过", __doc__ or "", parse, handle)
