"""A KPI report as data: JSON for the REST API and CSV for export. Amounts stay in integer
cents, rates are fractions, exactly the values the chat reply formats."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from bot.chat.types import Locale
from bot.kpi import definitions, engine, periods
from bot.kpi.config import KpiConfig
from bot.kpi.engine import Report, Side

BREAKDOWN = ("gross_sales", "net_sales", "orders", "buyers", "aov", "gross_profit")


def kpi_rows(report: Report, roi_definition: str, locale: Locale) -> list[dict[str, Any]]:
    prev = report.previous.values if report.previous else None
    rows = []
    for k in definitions.catalogue(roi_definition):
        value = report.current.values.get(k.key)
        before = prev.get(k.key) if prev is not None else None
        diff, pct = engine.change(value, before)
        rows.append(
            {
                "key": k.key,
                "label": k.label(locale),
                "unit": k.unit,
                "value": value,
                "previous": before,
                "change": diff,
                "change_pct": pct,
                "definition": k.definition(locale),
            }
        )
    return rows


def group_rows(side: Side, names: dict[int, str], dim: engine.Dim) -> list[dict[str, Any]]:
    out = []
    for key, sums in side.groups.items():
        sub = Side(side.campaign, side.days, sums, {}, {}, side.campaign_gross)
        v = engine.values(sub, 0, "gmv")
        out.append(
            {f"{dim}_id": key or None, "name": names.get(key), **{m: v[m] for m in BREAKDOWN}}
        )
    return sorted(out, key=lambda r: (-int(r["net_sales"] or 0), str(r["name"])))


def _range(days: periods.DayRange) -> dict[str, str | None]:
    return {"from": days.lo.isoformat() if days.lo else None, "to": days.hi.isoformat()}


def daily_rows(report: Report, config: KpiConfig) -> list[dict[str, Any]]:
    """Net sales per day of the campaign, beside the baseline's same day."""
    start, end = periods.campaign_days(report.campaign, config)
    cur = report.current
    # The campaign's days, widened to any day with sales (a coupon redeemed after the end).
    sold = [d for d, v in cur.daily.items() if v]
    first = cur.days.lo or min([start, *sold])
    last = min(cur.days.hi, max([end, *sold]))
    rows = []
    base = report.previous
    offset = 0
    if base is not None and report.baseline is not None:
        if report.baseline.kind == "campaign":
            offset = (periods.campaign_days(base.campaign, config)[0] - start).days
        else:
            lo = report.baseline.days.lo
            offset = (lo - first).days if lo else 0
    day = first
    while day <= last:
        twin: date = day + timedelta(days=offset)
        rows.append(
            {
                "day": day.isoformat(),
                "net_sales": cur.daily.get(day, 0),
                "previous_day": twin.isoformat() if base else None,
                "previous_net_sales": base.daily.get(twin, 0) if base else None,
            }
        )
        day += timedelta(days=1)
    return rows


def as_json(
    report: Report,
    roi_definition: str,
    locale: Locale,
    config: KpiConfig,
    breakdowns: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """``breakdowns``: e.g. {"by_store": group_rows(...), "by_guide": ...}."""
    c, base = report.campaign, report.baseline
    return {
        "campaign": {
            "code": c.code,
            "name": c.name,
            "starts_at": c.starts_at.isoformat(),
            "ends_at": c.ends_at.isoformat(),
        },
        "range": _range(report.current.days),
        "baseline": None
        if base is None
        else {
            "kind": base.kind,
            "code": base.campaign.code,
            "name": base.campaign.name,
            **_range(base.days),
        },
        "compared": report.previous is not None,
        "roi_definition": roi_definition,
        "kpis": kpi_rows(report, roi_definition, locale),
        "funnel": [{"step": s, "value": report.current.values[s]} for s in definitions.FUNNEL],
        **breakdowns,
        "daily": daily_rows(report, config),
        "definitions": {
            "attribution": definitions.ATTRIBUTION[locale].format(n=config.task_days),
            "comparison": definitions.COMPARISON[locale],
        },
    }


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# Injection"): such a text cell gets a leading apostrophe. Numbers stay numbers.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?%?")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def as_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(
            out, fieldnames=[safe_cell(k) for k in rows[0]], lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows({safe_cell(k): safe_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()


def attachment(name: str) -> str:
    """A Content-Disposition for ``name``: an ASCII-only fallback and the RFC 5987 form."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "kpis.csv"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
