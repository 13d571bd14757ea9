"""The demo's campaigns, placed on the calendar relative to the day the history ends.

双十一 and 618 are the two shopping festivals every Chinese retailer reports on; the third
campaign is running today, so ``kpi`` has something live to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any


@dataclass(frozen=True)
class CampaignSpec:
    code: str
    name: str
    starts_at: datetime
    ends_at: datetime
    coupons: tuple[tuple[str, int], ...]  # (code, value in cents)
    fixed_cost_cents: int
    stores: tuple[str, ...] = ()  # none: every store
    target_tag: str | None = None

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at <= self.ends_at


def _last(month: int, first_day: int, last_day: int, before: date) -> tuple[date, date]:
    """The most recent window (month/first_day .. month/last_day) that ended before ``before``."""
    year = before.year if date(before.year, month, last_day) < before else before.year - 1
    return date(year, month, first_day), date(year, month, last_day)


def _window(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    # Inclusive of the whole last day, so a KPI query with either < or <= agrees.
    return datetime.combine(first, time(0), tz), datetime.combine(last, time(23, 59, 59), tz)


def campaign_specs(today: date, tz: tzinfo) -> list[CampaignSpec]:
    """Oldest first, so each can name the one before it as ``previous``."""
    d11_first, d11_last = _last(11, 1, 11, today)
    s618_first, s618_last = _last(6, 1, 18, today)
    specs = [
        CampaignSpec(
            code=f"D11-{d11_first.year}",
            name=f"{d11_first.year} 双十一",
            starts_at=_window(d11_first, d11_last, tz)[0],
            ends_at=_window(d11_first, d11_last, tz)[1],
            coupons=((f"D11{d11_first.year}-50", 5000), (f"D11{d11_first.year}-200", 20000)),
            fixed_cost_cents=8_000_000,
        ),
        CampaignSpec(
            code=f"618-{s618_first.year}",
            name=f"{s618_first.year} 618 年中大促",
            starts_at=_window(s618_first, s618_last, tz)[0],
            ends_at=_window(s618_first, s618_last, tz)[1],
            coupons=((f"618{s618_first.year}-30", 3000),),
            fixed_cost_cents=5_000_000,
        ),
    ]
    specs.sort(key=lambda s: s.starts_at)
    # Two weeks in, but never overlapping a festival: an order then belongs to one window.
    festival_end = specs[-1].ends_at.date()
    running_first = max(today - timedelta(days=14), festival_end + timedelta(days=1))
    running_last = today + timedelta(days=16)
    specs.append(
        CampaignSpec(
            code=f"RENEW-{running_first:%Y%m%d}",
            name="会员焕新季",
            starts_at=_window(running_first, running_last, tz)[0],
            ends_at=_window(running_first, running_last, tz)[1],
            coupons=((f"RENEW{running_first:%Y%m%d}-100", 10000),),
            fixed_cost_cents=1_500_000,
            stores=("SH01", "BJ01"),
            target_tag="会员等级:VIP",
        )
    )
    return specs


def campaign_rows(specs: list[CampaignSpec]) -> list[dict[str, Any]]:
    """Rows for the ``campaigns`` intake kind, each pointing at the campaign before it."""
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        rows.append(
            {
                "code": spec.code,
                "name": spec.name,
                "starts_at": spec.starts_at,
                "ends_at": spec.ends_at,
                "stores": list(spec.stores),
                "coupons": [{"code": c, "value_cents": v} for c, v in spec.coupons],
                "fixed_cost_cents": spec.fixed_cost_cents,
                "target_tag": spec.target_tag,
                "previous": specs[i - 1].code if i else None,
            }
        )
    return rows
