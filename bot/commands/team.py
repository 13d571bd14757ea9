"""Team results: task completion and conversion within N days, against the hold-out.
团队：各导购任务完成率、N 天内转化率，以及对照组（不派任务的客户）的转化率。

Usage: team [days:N] [store:CODE]
用法：团队 [天数:N] [门店:代码]
e.g. team days:14
例：团队 门店:SH01
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from bot.chat.types import Reply, Table
from bot.commands.base import Command, CommandError, Context, Usage
from bot.commands.tasks import today
from bot.lifecycle.outcomes import team
from storage.models import Store


@dataclass(frozen=True)
class Args:
    days: int
    store: str | None


def parse(args: list[str]) -> Args:
    days, store = 30, None
    for arg in args:
        key, sep, value = arg.partition(":")
        if not sep:
            raise Usage(f"看不懂“{arg}”。", f"'{arg}' is not a filter.")
        if key in ("days", "天数") and value.isdigit() and 1 <= int(value) <= 365:
            days = int(value)
        elif key in ("store", "门店") and value:
            store = value
        else:
            raise Usage(f"看不懂“{arg}”。", f"'{arg}' is not a filter.")
    return Args(days, store)


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def handle(ctx: Context, args: Args) -> Reply:
    stores: frozenset[int] | None = None if ctx.actor.role == "admin" else ctx.actor.store_ids
    if args.store:
        sid = ctx.session.scalar(select(Store.id).where(Store.code == args.store))
        if sid is None or (stores is not None and sid not in stores):
            raise CommandError(
                f"没有你能看的门店“{args.store}”。", f"No store '{args.store}' among yours."
            )
        stores = frozenset({sid})
    window = ctx.settings.task_attribution_days
    rows = team(ctx.session, stores, today(ctx), args.days, window, ctx.settings.tz)
    if not rows:
        return Reply(text=ctx.say("没有导购。", "No guides in scope."))
    table = Table(
        [
            ctx.say("导购", "guide"),
            ctx.say("今日", "today"),
            ctx.say("完成率", "done"),
            ctx.say("转化", "converted"),
            ctx.say("对照组", "hold-out"),
            ctx.say("提升", "lift"),
        ],
        [],
    )
    for g in rows:
        lift = (
            None
            if g.conversion is None or g.holdout_conversion is None
            else f"{(g.conversion - g.holdout_conversion) * 100:+.0f}pt"
        )
        table.rows.append(
            [
                g.name,
                f"{g.today_done}/{g.today_total}",
                pct(g.completion),
                pct(g.conversion),
                pct(g.holdout_conversion),
                lift or "—",
            ]
        )
    done = sum(g.done for g in rows)
    conv = sum(g.converted for g in rows)
    held = sum(g.holdout for g in rows)
    held_conv = sum(g.holdout_converted for g in rows)
    total = ctx.say(
        "合计：完成 {d} 个任务，{w} 天内转化 {c}；对照组 {h}",
        "Overall: {d} tasks done, {c} converted within {w} days; hold-out {h}",
        d=done,
        c=pct(conv / done if done else None),
        w=window,
        h=pct(held_conv / held if held else None),
    )
    return Reply(
        title=ctx.say("团队任务（近 {n} 天）", "Team tasks (last {n} days)", n=args.days),
        table=table,
        footer=total
        + "\n"
        + ctx.say(
            "转化：完成任务后 {w} 天内下单；对照组：随机留出、不派任务的客户在同样 {w} 天内下单。",
            "Converted: ordered within {w} days after the task was done. Hold-out: customers randomly "
            "kept out of tasks, ordering within the same {w} days.",
            w=window,
        ),
    )


COMMAND = Command("team", "团队", __doc__ or "", parse, handle, managers_only=True, shareable=True)
