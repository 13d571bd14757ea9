"""Campaign KPIs: changes against the previous campaign, a breakdown and a chart.
活动：活动效果（与上一期对比、门店/导购拆分、图表）。

Usage: kpi CAMPAIGN [vs CAMPAIGN] [store:STORE] [guide:GUIDE] [period:yesterday|7d|wtd|mtd|DATE..DATE]
用法：活动 活动 [对比 活动] [门店:门店] [导购:导购] [时间:昨天|近7天|本周|本月|日期..日期]
e.g. kpi D11-2026 period:7d
例：活动 双十一 门店:SH01
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, CommandError, Context, Usage
from bot.kpi import config, reply, service

_KEYS = {
    "store": "store",
    "门店": "store",
    "店": "store",
    "guide": "guide",
    "导购": "guide",
    "period": "period",
    "时间": "period",
    "期间": "period",
}
_VS = {"vs", "对比", "比较"}


@dataclass(frozen=True)
class Args:
    campaign: str
    vs: str | None = None
    store: str | None = None
    guide: str | None = None
    period: str | None = None


def parse(args: list[str]) -> Args:
    words: list[str] = []
    vs_words: list[str] | None = None
    options: dict[str, str] = {}
    for token in args:
        key, sep, value = token.partition(":")
        if sep and key.lower() in _KEYS:
            if not value.strip():
                raise Usage(f"“{key}:”后面要写内容。", f"Give a value after '{key}:'.")
            options[_KEYS[key.lower()]] = value.strip()
        elif token.lower() in _VS:
            vs_words = []
        elif vs_words is not None:
            vs_words.append(token)
        else:
            words.append(token)
    if not words:
        raise Usage("要看哪个活动？写活动编号或名称。", "Which campaign? Give its code or name.")
    if vs_words is not None and not vs_words:
        raise Usage("“对比”后面写另一个活动。", "Name the campaign to compare with after 'vs'.")
    return Args(
        " ".join(words)[:100],
        " ".join(vs_words)[:100] if vs_words else None,
        options.get("store"),
        options.get("guide"),
        options.get("period"),
    )


def handle(ctx: Context, args: Args) -> Reply:
    return answer(ctx, args, chart=True)


def answer(ctx: Context, args: Args, *, chart: bool) -> Reply:
    """``chart=False`` is for the benchmark's reply-without-chart figure."""
    cfg = config.from_settings(ctx.settings)
    visible = None if ctx.actor.role == "admin" else ctx.actor.store_ids
    try:
        report = service.run(
            ctx.session,
            service.KpiRequest(args.campaign, args.vs, args.store, args.guide, args.period),
            today=ctx.now.astimezone(cfg.tz).date(),
            config=cfg,
            roi_definition=ctx.settings.roi_definition,
            visible=visible,
        )
    except service.Refused as exc:
        raise CommandError(exc.zh, exc.en) from exc
    parts = list(report.scope)
    if visible is not None and not args.store:
        parts.insert(0, ctx.say("你的门店", "your stores"))
    scope = " · ".join(parts)
    scope = ctx.say("范围：{s}", "Scope: {s}", s=scope) if scope else ""
    return reply.build(
        report, ctx.actor.locale, cfg, ctx.settings.roi_definition, scope=scope, chart=chart
    )


COMMAND = Command("kpi", "活动", __doc__ or "", parse, handle, managers_only=True, shareable=True)
