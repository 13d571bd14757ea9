"""The KPI engine: read a campaign's cells for a day range and scope, and turn the sums
into KPIs, a breakdown, a daily series and the comparison with a baseline.

Reads ``campaign_days`` only: about 12,000 rows for the largest campaign of the 10M-order
dataset, summed by the database. Never the order table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import BigInteger, cast, func, select, tuple_
from sqlalchemy.orm import Session

from bot.kpi import periods
from bot.kpi.campaigns import CampaignIndex, CampaignInfo
from bot.kpi.config import KpiConfig
from bot.kpi.periods import Baseline, DayRange
from storage.models import CampaignDay
from storage.models.kpi import DAY_MEASURES

Dim = Literal["store", "guide"]
# SUM of a BIGINT is NUMERIC in PostgreSQL; cast back, integers decode much faster than Decimals.
_SUMS = [cast(func.sum(getattr(CampaignDay, m)), BigInteger) for m in DAY_MEASURES]
Value = int | float | None


@dataclass(frozen=True)
class Filters:
    stores: frozenset[int] | None = None  # what the asker may see; None: every store
    store_id: int | None = None
    guide_id: int | None = None

    @property
    def partial(self) -> bool:
        return self.stores is not None or self.store_id is not None or self.guide_id is not None


@dataclass
class Side:
    campaign: CampaignInfo
    days: DayRange
    totals: dict[str, int]
    daily: dict[date, int]  # net sales by local day
    groups: dict[int, dict[str, int]]  # sums by store or guide (0: none)
    campaign_gross: int  # the whole campaign's gross sales on these days (cost sharing)
    values: dict[str, Value] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.totals.values())


@dataclass
class Report:
    campaign: CampaignInfo
    current: Side
    baseline: Baseline | None
    previous: Side | None  # None: nothing to compare with
    dim: Dim
    names: dict[int, str]
    filters: Filters = field(default_factory=Filters)
    scope: list[str] = field(default_factory=list)  # the store / guide asked for, by name


def _measures(row: Any) -> dict[str, int]:
    return {m: int(v or 0) for m, v in zip(DAY_MEASURES, row, strict=True)}


def _aggregate(
    session: Session, where: list[Any], dim_col: Any, breakdown: bool
) -> tuple[dict[str, int], dict[date, int], dict[int, dict[str, int]]]:
    """Totals, net sales by day and sums by store or guide of the cells ``where`` selects.

    PostgreSQL gets them in one pass with GROUPING SETS; SQLite, which has none, in three
    queries. Either way the database adds up and Python reads a few dozen rows.
    """
    t = CampaignDay
    if session.get_bind().dialect.name == "postgresql":
        sets = [(), (t.day,), *([(dim_col,)] if breakdown else [])]
        keys = (t.day, dim_col) if breakdown else (t.day,)
        q = (
            select(func.grouping(*keys), t.day, dim_col if breakdown else t.day, *_SUMS)
            .where(*where)
            .group_by(func.grouping_sets(*(tuple_(*cols) for cols in sets)))
        )
        rows = session.execute(q).all()
        # grouping() has a bit set per key rolled up: day is the high bit when there are two
        everything, by_day, by_dim = (3, 1, 2) if breakdown else (1, 0, -1)
        total = next((r for r in rows if r[0] == everything), None)
        totals = _measures(total[3:] if total else [0] * len(DAY_MEASURES))
        daily = {r[1]: _net(r[3:]) for r in rows if r[0] == by_day}
        groups = {int(r[2]): _measures(r[3:]) for r in rows if r[0] == by_dim}
        return totals, daily, groups
    totals = _measures(session.execute(select(*_SUMS).where(*where)).one())
    net = cast(func.sum(t.paid_cents) - func.sum(t.refund_cents), BigInteger)
    daily = {
        d: int(v or 0) for d, v in session.execute(select(t.day, net).where(*where).group_by(t.day))
    }
    groups = {}
    if breakdown:
        for row in session.execute(select(dim_col, *_SUMS).where(*where).group_by(dim_col)):
            groups[int(row[0])] = _measures(row[1:])
    return totals, daily, groups


_PAID, _REFUNDED = DAY_MEASURES.index("paid_cents"), DAY_MEASURES.index("refund_cents")


def _net(sums: Any) -> int:
    return int(sums[_PAID] or 0) - int(sums[_REFUNDED] or 0)


def read_side(
    session: Session,
    campaign: CampaignInfo,
    days: DayRange,
    filters: Filters,
    dim: Dim,
    config: KpiConfig,
    roi_definition: str,
    *,
    breakdown: bool = True,
) -> Side:
    """The sums of one campaign's cells for a day range and scope (``breakdown``: also by
    store or guide)."""
    t = CampaignDay
    dim_col = t.store_id if dim == "store" else t.guide_id
    where: list[Any] = [t.campaign_id == campaign.id, t.day <= days.hi]
    if days.lo is not None:
        where.append(t.day >= days.lo)
    scoped = list(where)
    if filters.stores is not None:
        scoped.append(t.store_id.in_(filters.stores or {-1}))
    if filters.store_id is not None:
        scoped.append(t.store_id == filters.store_id)
    if filters.guide_id is not None:
        scoped.append(t.guide_id == filters.guide_id)
    totals, daily, groups = _aggregate(session, scoped, dim_col, breakdown)
    campaign_gross = totals["paid_cents"]
    if filters.partial:
        gross = session.scalar(select(cast(func.sum(t.paid_cents), BigInteger)).where(*where))
        campaign_gross = int(gross or 0)
    side = Side(campaign, days, totals, daily, groups, campaign_gross)
    side.values = values(side, fixed_share(side, filters, config), roi_definition)
    return side


def fixed_share(side: Side, filters: Filters, config: KpiConfig) -> int:
    """The part of the campaign's fixed cost this side carries: by days, then by sales."""
    c = side.campaign
    start, end = periods.campaign_days(c, config)
    lo = side.days.lo or start
    length = (end - start).days + 1
    overlap = (min(side.days.hi, end) - max(lo, start)).days + 1
    share = 1.0 if lo <= start and side.days.hi >= end else max(overlap, 0) / length
    if filters.partial:
        gross = side.campaign_gross
        share *= side.totals["paid_cents"] / gross if gross else 0.0
    return round(c.fixed_cost_cents * share)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def values(side: Side, fixed: int, roi_definition: str) -> dict[str, Value]:
    t = side.totals
    gross, refunds = t["paid_cents"], t["refund_cents"]
    net = gross - refunds
    profit = net - (t["cost_cents"] - t["refund_cost_cents"])
    cost = fixed + t["coupon_cents"]
    roi = _ratio(gross, cost) if roi_definition == "gmv" else _ratio(profit - cost, cost)
    aov = _ratio(gross, t["orders"])
    return {
        "registered": t["registered"],
        "buyers": t["buyers"],
        "refund_buyers": t["refund_buyers"],
        "orders": t["orders"],
        "gross_sales": gross,
        "refunds": refunds,
        "net_sales": net,
        "gross_profit": profit,
        "margin": _ratio(profit, net) if net > 0 else None,
        "units": t["units"] - t["refund_units"],
        "promotion_cost": cost,
        "roi": roi,
        "roas": _ratio(net, cost),
        "conversion": _ratio(t["targeted_buyers"], t["targeted"]),
        "aov": round(aov) if aov is not None else None,
        "repeat_rate": _ratio(t["repeat_buyers"], t["buyers"]),
        "new_buyers": t["new_buyers"],
        "returning_buyers": t["buyers"] - t["new_buyers"],
        "targeted": t["targeted"],
        "touched": t["touched"],
        "purchased": t["targeted_buyers"],
        "repurchased": t["targeted_repeat_buyers"],
    }


def baseline_for(
    campaign: CampaignInfo,
    rng: DayRange,
    *,
    period_given: bool,
    vs: CampaignInfo | None,
    campaigns: CampaignIndex,
    today: date,
    config: KpiConfig,
) -> Baseline | None:
    """``vs`` if given; a period is compared with the days before it; otherwise the
    previous campaign, and failing that the days before this one."""
    if vs is not None:
        return periods.aligned(campaign, rng, vs, today, config)
    if not period_given and campaign.previous_id is not None:
        previous = campaigns.get(campaign.previous_id)
        if previous is not None:
            return periods.aligned(campaign, rng, previous, today, config)
    return periods.previous_period(campaign, rng, config)


def build(
    session: Session,
    campaign: CampaignInfo,
    *,
    campaigns: CampaignIndex,
    today: date,
    config: KpiConfig,
    roi_definition: str,
    filters: Filters | None = None,
    period: DayRange | None = None,
    vs: CampaignInfo | None = None,
    dim: Dim = "store",
    names: dict[int, str] | None = None,
) -> Report:
    filters = filters or Filters()
    rng = period or periods.whole(today)
    current = read_side(session, campaign, rng, filters, dim, config, roi_definition)
    base = baseline_for(
        campaign,
        rng,
        period_given=period is not None,
        vs=vs,
        campaigns=campaigns,
        today=today,
        config=config,
    )
    previous = None
    if base is not None:
        side = read_side(
            session, base.campaign, base.days, filters, dim, config, roi_definition, breakdown=False
        )
        previous = None if side.empty else side
    return Report(campaign, current, base, previous, dim, names or {}, filters)


def change(value: Value, previous: Value) -> tuple[float | None, float | None]:
    """(absolute change, relative change); the relative one is None when the base is 0."""
    if value is None or previous is None:
        return None, None
    diff = value - previous
    return diff, (diff / abs(previous) if previous else None)
