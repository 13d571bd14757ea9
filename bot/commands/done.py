"""Mark a task done, with an optional outcome; it is logged as a follow-up.
完成任务：标记完成并记录结果（会记为一条跟进）。

Usage: done N [OUTCOME]
用法：完成 序号 [结果]
e.g. done 2 booked a visit on Saturday
例：完成 1 约了周六到店
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, Context
from bot.commands.taskref import TaskRef, parse_ref, resolve, what_happened
from bot.lifecycle.messages import KINDS
from storage.models import Interaction


@dataclass(frozen=True)
class Args:
    ref: TaskRef
    outcome: str | None


def parse(args: list[str]) -> Args:
    ref = parse_ref(args, "写上任务序号，例如：完成 2", "Give the task number, e.g. done 2")
    outcome = " ".join(args[1:]).strip()[:200] or None
    return Args(ref, outcome)


def handle(ctx: Context, args: Args) -> Reply:
    task, name = resolve(ctx, args.ref)
    if task.status not in ("open", "snoozed"):
        return Reply(text=what_happened(ctx, task, name) or "")
    task.status, task.done_at, task.outcome = "done", ctx.now, args.outcome
    ctx.session.add(
        Interaction(
            customer_id=task.customer_id,
            staff_id=ctx.actor.staff_id,
            kind="task",
            channel=ctx.actor.channel.value,
            # The follow-up reads as the guide would write it, not a raw key like churn_risk.
            body=args.outcome
            or ctx.say("完成任务：{k}", "task done: {k}", k=_kind(ctx, task.kind)),
            occurred_at=ctx.now,
        )
    )
    return Reply(text=ctx.say("{c} · 任务完成 ✓", "{c} · task done ✓", c=name))


def _kind(ctx: Context, kind: str) -> str:
    return KINDS.get(kind, (kind, kind))[0 if ctx.actor.locale == "zh" else 1]


COMMAND = Command("done", "完成", __doc__ or "", parse, handle)
