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
from bot.commands.taskref import TaskRef, parse_ref, resolve, what_happened


@dataclass(frozen=True)
class Args:
    ref: TaskRef
    reason: str


def parse(args: list[str]) -> Args:
    ref = parse_ref(
        args,
        "写上任务序号和原因，例如：跳过 2 客户出差",
        "Give the task number and a reason, e.g. skip 2 travelling",
    )
    reason = " ".join(args[1:]).strip()
    if not reason:
        n = ref.command()
        raise Usage(
            f"请写跳过的原因，例如：跳过 {n} 客户出差", f"Say why, e.g. skip {n} travelling"
        )
    return Args(ref, reason[:200])


def handle(ctx: Context, args: Args) -> Reply:
    task, name = resolve(ctx, args.ref)
    if task.status not in ("open", "snoozed"):
        return Reply(text=what_happened(ctx, task, name) or "")
    task.status, task.skip_reason = "skipped", args.reason
    return Reply(text=ctx.say("{c} · 任务已跳过", "{c} · task skipped", c=name))


COMMAND = Command("skip", "跳过", __doc__ or "", parse, handle)
