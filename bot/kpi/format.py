"""KPI values and changes as people read them: ¥ with two decimals, rates as %, rate changes
in percentage points, big amounts on charts in 万 (zh) or K/M (en)."""

from __future__ import annotations

from bot.chat.types import Locale
from bot.kpi.definitions import Unit
from bot.kpi.engine import Value, change


def value(v: Value, unit: Unit) -> str:
    if v is None:
        return "—"
    if unit == "money":
        return f"{'-' if v < 0 else ''}¥{abs(v) / 100:,.2f}"
    if unit == "rate":
        return f"{v * 100:.1f}%"
    if unit == "multiple":
        return f"{v:.2f}"
    return f"{int(v):,}"


def _signed(diff: float, unit: Unit) -> str:
    sign = "+" if diff >= 0 else "-"
    if unit == "money":
        return f"{sign}¥{abs(diff) / 100:,.2f}"
    if unit == "rate":
        return f"{sign}{abs(diff) * 100:.1f}pp"
    if unit == "multiple":
        return f"{sign}{abs(diff):.2f}"
    return f"{sign}{abs(int(diff)):,}"


def delta(v: Value, previous: Value, unit: Unit) -> str | None:
    """ "+¥1,200.00, +12.5%"; the % is left out when the base is 0."""
    diff, pct = change(v, previous)
    if diff is None:
        return None
    text = _signed(diff, unit)
    if pct is not None:
        text += f", {pct * 100:+.1f}%"
    return text


def _short(x: float, places: int) -> str:
    text = f"{x:,.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def compact_money(cents: float, locale: Locale) -> str:
    """Amounts for charts: ¥438.5万, ¥1.1亿 (zh); ¥43.9K, ¥1.2M (en); whole yuan below that."""
    yuan = cents / 100
    sign = "-" if yuan < 0 else ""
    yuan = abs(yuan)
    if locale == "zh":
        if yuan >= 1e8:
            return f"{sign}¥{_short(yuan / 1e8, 2)}亿"
        if yuan >= 1e4:
            return f"{sign}¥{_short(yuan / 1e4, 1)}万"
        return f"{sign}¥{yuan:,.0f}"
    if yuan >= 1e6:
        return f"{sign}¥{_short(yuan / 1e6, 1)}M"
    if yuan >= 1e4:
        return f"{sign}¥{_short(yuan / 1e3, 1)}K"
    return f"{sign}¥{yuan:,.0f}"
