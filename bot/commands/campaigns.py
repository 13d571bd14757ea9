"""List campaigns with their dates, status and net sales so far.
活动列表：列出活动的日期、状态和目前的净销售额。

Usage: campaigns [N]
用法：活动列表 [数量]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from bot.chat.types import Action, Item, Reply
from bot.commands.base import Command, Context, Usage
from bot.kpi import format
from bot.kpi.campaigns import CampaignIndex
from storage.models import CampaignDay


@dataclass(frozen=True)
class Args:
    limit: int


def parse(args: list[str]) -> Args:
    if not args:
        return Args(10)
    if len(args) > 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 50:
        raise Usage("写 1 到 50 之间的数量。", "Give a number from 1 to 50.")
    return Args(int(args[0]))


def handle(ctx: Context, args: Args) -> Reply:
    tz = ctx.settings.tz
    campaigns = sorted(
        CampaignIndex.load(ctx.session), key=lambda c: (c.starts_at, c.id), reverse=True
    )[: args.limit]
    if not campaigns:
        return Reply(
            text=ctx.say(
                "还没有活动。用 POST /api/v1/campaigns 或 scrm import campaigns 添加。",
                "No campaigns yet. Add them with POST /api/v1/campaigns or scrm import campaigns.",
            )
        )
    yesterday = ctx.now.astimezone(tz).date() - timedelta(days=1)
    t = CampaignDay
    q = (
        select(t.campaign_id, func.sum(t.paid_cents) - func.sum(t.refund_cents))
        .where(t.campaign_id.in_([c.id for c in campaigns]), t.day <= yesterday)
        .group_by(t.campaign_id)
    )
    if ctx.actor.role != "admin":
        q = q.where(t.store_id.in_(ctx.actor.store_ids or {-1}))
    net = {cid: int(v or 0) for cid, v in ctx.session.execute(q)}
    kpi = "活动" if ctx.actor.locale == "zh" else "kpi"
    items = []
    for i, c in enumerate(campaigns, start=1):
        if ctx.now < c.starts_at:
            status = ctx.say("未开始", "upcoming")
        elif ctx.now <= c.ends_at:
            status = ctx.say("进行中", "running")
        else:
            status = ctx.say("已结束", "ended")
        items.append(
            Item(
                number=i,
                title=f"{c.name}（{c.code}）"
                if ctx.actor.locale == "zh"
                else f"{c.name} ({c.code})",
                subtitle=ctx.say(
                    "{a} 至 {b} · {s} · 净销售额 {m}",
                    "{a} – {b} · {s} · net sales {m}",
                    a=ctx.local(c.starts_at),
                    b=ctx.local(c.ends_at),
                    s=status,
                    m=format.value(net.get(c.id, 0), "money"),
                ),
                actions=[Action(ctx.say("看效果", "KPIs"), f"{kpi} {c.code}", "primary")],
            )
        )
    return Reply(
        title=ctx.say("最近的活动", "Recent campaigns"),
        items=items,
        footer=ctx.say(
            "发“活动 编号”看效果，如：活动 {c}",
            "Send 'kpi CODE' for the KPIs, e.g. kpi {c}",
            c=campaigns[0].code,
        ),
    )


COMMAND = Command(
    "campaigns", "活动列表", __doc__ or "", parse, handle, managers_only=True, shareable=True
)
