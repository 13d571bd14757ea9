"""Day ranges for KPI reports, in local days, and what a report is compared with.

Only complete days are reported and compared: a range never reaches past yesterday, so a
running campaign is never half of today against a whole day of the previous one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from bot.kpi.campaigns import CampaignInfo
from bot.kpi.config import KpiConfig


class PeriodError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass(frozen=True)
class DayRange:
    """Local days ``lo``..``hi`` inclusive; ``lo`` None means from the very beginning (so
    registrations before a campaign's first day count)."""

    lo: date | None
    hi: date

    def shift(self, days: int) -> DayRange:
        d = timedelta(days=days)
        return DayRange(None if self.lo is None else self.lo + d, self.hi + d)

    def label(self) -> str:
        lo = self.lo.isoformat() if self.lo else "…"
        return lo if self.lo == self.hi else f"{lo} – {self.hi.isoformat()}"


_DATE = r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
_RANGE = re.compile(rf"{_DATE}(?:\.\.|~|～|—|-|_|至|到)?{_DATE}?")
_LAST_N = re.compile(r"(?:(\d{1,3})d|近(\d{1,3})天|最近(\d{1,3})天)")
_YESTERDAY = {"yesterday", "昨天", "昨日"}
_WEEK = {"wtd", "本周"}
_MONTH = {"mtd", "本月"}


def _date(y: str, m: str, d: str) -> date:
    if int(y) < 1970:
        # No order is older (intake refuses them); early years also overflow date shifts.
        raise PeriodError(
            f"{y} 年早于 1970 年，没有数据。", f"{y} is before 1970; no figures go back that far."
        )
    try:
        return date(int(y), int(m), int(d))
    except ValueError as exc:
        raise PeriodError(
            f"{y}-{m}-{d} 不是有效日期。", f"{y}-{m}-{d} is not a valid date."
        ) from exc


def parse(text: str, today: date) -> DayRange:
    """yesterday, Nd (last N complete days), wtd, mtd, a date or a date range."""
    t = text.strip().lower()
    yesterday = today - timedelta(days=1)
    if t in _YESTERDAY:
        lo, hi = yesterday, yesterday
    elif m := _LAST_N.fullmatch(t):
        n = int(next(g for g in m.groups() if g))
        if n < 1:
            raise PeriodError("天数至少为 1。", "Give at least 1 day.")
        lo, hi = today - timedelta(days=n), yesterday
    elif t in _WEEK:
        lo, hi = today - timedelta(days=today.weekday()), yesterday
    elif t in _MONTH:
        lo, hi = today.replace(day=1), yesterday
    elif m := _RANGE.fullmatch(t):
        lo = _date(*m.groups()[:3])
        hi = _date(*m.groups()[3:]) if m.group(4) else lo
        if hi < lo:
            lo, hi = hi, lo
        hi = min(hi, yesterday)
    else:
        raise PeriodError(
            f"看不懂时间“{text}”。可用：昨天、7d（近7天）、本周、本月，或 2026-11-01..2026-11-11。",
            f"I can't read the period '{text}'. Use yesterday, 7d, wtd, mtd, "
            "or a range like 2026-11-01..2026-11-11.",
        )
    if lo > hi:
        raise PeriodError(
            "这段时间还没有完整的一天（只统计到昨天）。",
            "That period has no complete day yet (figures run to yesterday).",
        )
    return DayRange(lo, hi)


def campaign_days(campaign: CampaignInfo, config: KpiConfig) -> tuple[date, date]:
    return config.day(campaign.starts_at), config.day(campaign.ends_at)


def whole(today: date) -> DayRange:
    """A whole campaign: everything up to yesterday (coupon orders may come after the end)."""
    return DayRange(None, today - timedelta(days=1))


@dataclass(frozen=True)
class Baseline:
    kind: str  # "campaign": another campaign on the same days; "period": the days before
    campaign: CampaignInfo
    days: DayRange


def aligned(
    current: CampaignInfo, rng: DayRange, other: CampaignInfo, today: date, config: KpiConfig
) -> Baseline:
    """The same days of another campaign, counted from each one's first day."""
    start, end = campaign_days(current, config)
    o_start, _ = campaign_days(other, config)
    offset = (o_start - start).days
    lo = None if rng.lo is None else rng.lo + timedelta(days=offset)
    # The whole of the other campaign once this one is over (late coupon orders included).
    hi = today - timedelta(days=1) if rng.hi >= end else rng.hi + timedelta(days=offset)
    return Baseline("campaign", other, DayRange(lo, min(hi, today - timedelta(days=1))))


def previous_period(current: CampaignInfo, rng: DayRange, config: KpiConfig) -> Baseline | None:
    """The equal-length run of days just before, of the same campaign."""
    start, _ = campaign_days(current, config)
    lo = rng.lo or start
    length = (rng.hi - lo).days + 1
    if length < 1:
        return None
    return Baseline(
        "period",
        current,
        DayRange(lo - timedelta(days=length), lo - timedelta(days=1)),
    )
