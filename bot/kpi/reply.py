"""A KPI report as a chat ``Reply``: KPI fields with their changes, a breakdown table, the
chart, and every definition in the footer."""

from __future__ import annotations

from bot.chat.types import Field, Locale, Reply, Table
from bot.kpi import charts, definitions, format, view
from bot.kpi.config import KpiConfig
from bot.kpi.engine import Report

_ROWS = 10


def _say(locale: Locale, zh: str, en: str) -> str:
    return zh if locale == "zh" else en


def _range_line(report: Report, locale: Locale, config: KpiConfig) -> str:
    c, days = report.campaign, report.current.days
    lo = days.lo or config.day(c.starts_at)
    return _say(
        locale,
        f"统计 {lo} 至 {days.hi}（完整的天）",
        f"Figures for {lo} – {days.hi} (complete days)",
    )


def _baseline_line(report: Report, locale: Locale) -> str:
    base = report.baseline
    if report.previous is None or base is None:
        return _say(
            locale,
            "没有可对比的上一期活动或之前的数据，不显示变化。",
            "Nothing to compare with (no previous campaign or earlier activity).",
        )
    if base.kind == "campaign":
        return _say(
            locale,
            f"对比 {base.campaign.name}（{base.campaign.code}）同期",
            f"Compared with {base.campaign.name} ({base.campaign.code}), same days",
        )
    return _say(
        locale,
        f"对比之前等长的时间 {base.days.label()}",
        f"Compared with the days before: {base.days.label()}",
    )


def build(
    report: Report,
    locale: Locale,
    config: KpiConfig,
    roi_definition: str,
    *,
    scope: str = "",
    chart: bool = True,
) -> Reply:
    cat = definitions.catalogue(roi_definition)
    prev = report.previous.values if report.previous else None
    fields = [
        Field(
            k.label(locale),
            format.value(report.current.values.get(k.key), k.unit),
            format.delta(report.current.values.get(k.key), prev.get(k.key), k.unit)
            if prev is not None
            else None,
        )
        for k in cat
    ]
    lines = [_range_line(report, locale, config), _baseline_line(report, locale)]
    if scope:
        lines.insert(1, scope)
    rows = view.group_rows(report.current, report.names, report.dim)[:_ROWS]
    none = _say(locale, "（无）", "(none)")
    head = _say(locale, "门店", "Store") if report.dim == "store" else _say(locale, "导购", "Guide")
    table = Table(
        [
            head,
            _say(locale, "净销售额", "Net sales"),
            _say(locale, "订单", "Orders"),
            _say(locale, "购买人数", "Buyers"),
            _say(locale, "客单价", "AOV"),
        ],
        [
            [
                str(r["name"] or none),
                format.value(r["net_sales"], "money"),
                format.value(r["orders"], "count"),
                format.value(r["buyers"], "count"),
                format.value(r["aov"], "money"),
            ]
            for r in rows
        ],
    )
    footer = "\n".join(
        [
            _say(locale, "口径：", "Definitions:"),
            *(f"· {k.label(locale)}{_say(locale, '：', ': ')}{k.definition(locale)}" for k in cat),
            "· " + definitions.ATTRIBUTION[locale].format(n=config.task_days),
            "· " + definitions.COMPARISON[locale],
        ]
    )
    c = report.campaign
    return Reply(
        title=f"{c.name}（{c.code}）" if locale == "zh" else f"{c.name} ({c.code})",
        text="\n".join(lines),
        fields=fields,
        table=table if rows else None,
        chart=charts.chart(report, locale, config, roi_definition) if chart else None,
        footer=footer,
    )
