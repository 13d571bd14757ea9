"""Stage rules: the churn probability decides churn_risk and lost; the customer's own rhythm
tells active from silent.

g is the customer's typical gap between purchase occasions (at least ``min_gap_days``); a
one-time buyer has no gap of their own, so g is the population's median gap. With d days
since the last order and c = P(no purchase in the next h days) (``churn.py``):

    no order                                  prospect
    one occasion, first order < new days ago  new
    c >= lost_p                               lost
    c >= churn_p                              churn_risk
    d <= silent_ratio * g                     active
    otherwise                                 silent

Both churn stages come from the same score the task list ranks by, so a ``lost`` customer is
one the score thinks likelier to stay away than a ``churn_risk`` one. The rhythm ("usually
buys every 29 days") stays in the reason. Without a churn probability (no model yet) the
older rhythm rules apply (also while the probability is uncalibrated, ``churn_decides``): d <= churn_ratio * g silent, d <= lost_ratio * g or P(alive) >=
p_min churn_risk, otherwise lost.

``deleted`` (the customer removed their guide in WeCom) is set by the contact sync and kept.
Each stage comes with the date it can next change on its own, so the daily run reads only
the customers whose date has come (an indexed column), plus those new orders dirtied; a
churn probability grows with every quiet day, so that date is never more than a week off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

STAGES = ("prospect", "new", "active", "silent", "churn_risk", "lost", "deleted")
NAMES = {
    "prospect": ("潜客", "prospect"),
    "new": ("新客", "new"),
    "active": ("活跃", "active"),
    "silent": ("沉默", "silent"),
    "churn_risk": ("流失预警", "churn risk"),
    "lost": ("已流失", "lost"),
    "deleted": ("已删除导购", "deleted the guide"),
}
RECHECK = timedelta(days=7)  # P(alive) drifts slowly; look again a week later


@dataclass(frozen=True)
class Rules:
    new_days: int = 30
    silent_ratio: float = 1.5
    churn_ratio: float = 2.5
    lost_ratio: float = 4.0
    lost_p_alive: float = 0.2
    min_gap_days: float = 14.0
    churn_p: float = 0.6
    lost_p: float = 0.9
    horizon_days: int = 90
    # False while the churn probability is the model's uncalibrated own (too little history
    # for a backtest): it is shown, but the rhythm rules decide the stage.
    churn_decides: bool = True


@dataclass(frozen=True)
class Verdict:
    stage: str
    reason: str  # JSON facts; rendered per locale by ``describe``
    next_change_at: datetime | None


def decide(
    *,
    now: datetime,
    first: datetime | None,
    last: datetime | None,
    occasions: int,
    own_gap: float | None,
    population_gap: float,
    p_alive: float | None,
    rules: Rules,
    current: str | None = None,
    churn: float | None = None,
) -> Verdict:
    if current == "deleted":
        return Verdict("deleted", json.dumps({"k": "deleted"}), None)
    if last is None or first is None or occasions == 0:
        return Verdict("prospect", json.dumps({"k": "prospect"}), None)
    days = max((now - last).total_seconds() / 86400, 0.0)
    own = own_gap is not None and occasions >= 2
    gap = max(own_gap if own and own_gap else population_gap, rules.min_gap_days)
    facts = {
        "d": round(days),
        "g": round(gap),
        "own": own,
        "p": None if p_alive is None else round(p_alive, 2),
    }
    if churn is not None:
        facts |= {"c": round(churn, 2), "h": rules.horizon_days}
    if occasions == 1 and now - first < timedelta(days=rules.new_days):
        return Verdict(
            "new", json.dumps({"k": "new", **facts}), first + timedelta(days=rules.new_days)
        )
    if churn is not None and rules.churn_decides:
        if churn >= rules.lost_p:
            return Verdict("lost", json.dumps({"k": "lost", **facts}), None)
        if churn >= rules.churn_p:
            return Verdict("churn_risk", json.dumps({"k": "churn_risk", **facts}), now + RECHECK)
        if days <= rules.silent_ratio * gap:
            edge = last + timedelta(days=rules.silent_ratio * gap)
            return Verdict("active", json.dumps({"k": "active", **facts}), min(edge, now + RECHECK))
        return Verdict("silent", json.dumps({"k": "silent", **facts}), now + RECHECK)
    bounds = [
        ("active", rules.silent_ratio),
        ("silent", rules.churn_ratio),
        ("churn_risk", rules.lost_ratio),
    ]
    for stage, ratio in bounds:
        if days <= ratio * gap:
            return Verdict(
                stage, json.dumps({"k": stage, **facts}), last + timedelta(days=ratio * gap)
            )
    if p_alive is not None and p_alive >= rules.lost_p_alive:
        return Verdict("churn_risk", json.dumps({"k": "churn_risk", **facts}), now + RECHECK)
    return Verdict("lost", json.dumps({"k": "lost", **facts}), None)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_DAY = 86_400_000_000


def to_us(values: list[datetime | None]) -> NDArray[np.int64]:
    """UTC datetimes as integer microseconds since the epoch (exact); None as INT64 min."""
    none = np.iinfo(np.int64).min
    one = timedelta(microseconds=1)
    return np.fromiter(
        (none if v is None else (v - EPOCH) // one for v in values), np.int64, len(values)
    )


@dataclass(frozen=True)
class Verdicts:
    stage: list[str]
    reason: list[str]
    next_change_at: list[datetime | None]


def decide_many(
    *,
    now: datetime,
    first: NDArray[np.int64],
    last: NDArray[np.int64],
    occasions: NDArray[np.int64],
    own_gap: NDArray[np.float64],
    population_gap: float,
    p_alive: NDArray[np.float64],
    rules: Rules,
    current: list[str | None],
    churn: NDArray[np.float64] | None = None,
) -> Verdicts:
    """``decide`` for many customers at once, with the same results.

    Times are microseconds since the epoch (``to_us``; INT64 min for none), gaps, P(alive)
    and churn use NaN for none. The rules run as array operations; only the reason text and
    the next-change datetimes are built per customer, with the same arithmetic ``decide`` uses.
    """
    none = np.iinfo(np.int64).min
    now_us = (now - EPOCH) // timedelta(microseconds=1)
    n = len(occasions)
    c_all = np.full(n, np.nan) if churn is None else churn
    deleted = np.array([c == "deleted" for c in current], dtype=bool)
    prospect = ~deleted & ((last == none) | (first == none) | (occasions == 0))
    scored = ~deleted & ~prospect
    # (now - last).total_seconds() / 86400: microseconds / 10**6, then / 86400, as floats
    days = np.maximum(((now_us - np.where(scored, last, now_us)) / 1e6) / 86400, 0.0)
    own = ~np.isnan(own_gap) & (occasions >= 2)
    base = np.where(own & (np.nan_to_num(own_gap) != 0), own_gap, population_gap)
    gap = np.maximum(base, rules.min_gap_days)
    new = scored & (occasions == 1) & (now_us - first < rules.new_days * US_PER_DAY)
    code = np.full(n, -1, dtype=np.int64)  # index into ORDER below
    code[deleted], code[prospect], code[new] = 0, 1, 2
    left = scored & ~new
    has_c = ~np.isnan(c_all) & rules.churn_decides
    by_c = left & has_c
    lost_c = by_c & (c_all >= rules.lost_p)
    risk_c = by_c & ~lost_c & (c_all >= rules.churn_p)
    calm = by_c & ~lost_c & ~risk_c
    active_c = calm & (days <= rules.silent_ratio * gap)
    code[lost_c], code[risk_c], code[active_c], code[calm & ~active_c] = 11, 10, 8, 9
    left &= ~has_c
    for i, ratio in enumerate((rules.silent_ratio, rules.churn_ratio, rules.lost_ratio)):
        hit = left & (days <= ratio * gap)
        code[hit] = 3 + i
        left &= ~hit
    alive_enough = left & ~np.isnan(p_alive) & (p_alive >= rules.lost_p_alive)
    code[alive_enough] = 6
    code[left & ~alive_enough] = 7
    order = (
        *("deleted", "prospect", "new", "active", "silent", "churn_risk", "churn_risk", "lost"),
        *("active", "silent", "churn_risk", "lost"),
    )
    ratios = (0.0, 0.0, 0.0, rules.silent_ratio, rules.churn_ratio, rules.lost_ratio)
    stage: list[str] = []
    reason: list[str] = []
    nxt: list[datetime | None] = []
    new_span = timedelta(days=rules.new_days)
    recheck = now + RECHECK
    for c, d, g, o, p, f, la, ch in zip(
        code.tolist(),
        days.tolist(),
        gap.tolist(),
        own.tolist(),
        p_alive.tolist(),
        first.tolist(),
        last.tolist(),
        c_all.tolist(),
        strict=True,
    ):
        k = order[c]
        stage.append(k)
        if c < 2:
            reason.append(f'{{"k": "{k}"}}')
            nxt.append(None)
            continue
        pf = "null" if p != p else repr(round(p, 2))  # NaN is None
        cf = "" if ch != ch else f', "c": {round(ch, 2)!r}, "h": {rules.horizon_days}'
        reason.append(
            f'{{"k": "{k}", "d": {round(d)}, "g": {round(g)}, '
            f'"own": {"true" if o else "false"}, "p": {pf}{cf}}}'
        )
        if c == 2:
            nxt.append(EPOCH + timedelta(microseconds=f) + new_span)
        elif c < 6:
            nxt.append(EPOCH + timedelta(microseconds=la) + timedelta(days=ratios[c] * g))
        elif c == 8:
            edge = EPOCH + timedelta(microseconds=la) + timedelta(days=rules.silent_ratio * g)
            nxt.append(min(edge, recheck))
        elif c in (6, 9, 10):
            nxt.append(recheck)
        else:
            nxt.append(None)
    return Verdicts(stage, reason, nxt)


def describe(reason: str | None, locale: str) -> str:
    """The reason as a sentence a guide can read, e.g. "last order 94 days ago; usually buys
    every 31 days; P(alive) 0.18"."""
    if not reason:
        return ""
    try:
        f = json.loads(reason)
    except (TypeError, ValueError):
        return reason
    k = f.get("k")
    zh = locale == "zh"
    if k == "prospect":
        return "还没有购买" if zh else "no purchase yet"
    if k == "deleted":
        return "客户已删除导购" if zh else "the customer removed the guide in WeCom"
    parts = []
    if f.get("c") is not None:
        pct, h = round(f["c"] * 100), f.get("h", 90)
        parts.append(
            f"流失概率 {pct}%（{h} 天内）" if zh else f"churn probability {pct}% ({h} days)"
        )
    parts.append(f"上次购买 {f['d']} 天前" if zh else f"last order {f['d']} days ago")
    if k == "new":
        parts.append("首次购买" if zh else "first purchase")
    elif f.get("own"):
        parts.append(f"平时每 {f['g']} 天买一次" if zh else f"usually buys every {f['g']} days")
    else:
        parts.append(
            f"只买过一次，同类客户约 {f['g']} 天回购"
            if zh
            else f"bought once; customers like them return in about {f['g']} days"
        )
    if f.get("p") is not None and f.get("c") is None:
        parts.append(f"在购概率 {f['p']:.2f}" if zh else f"P(alive) {f['p']:.2f}")
    return "；".join(parts) if zh else "; ".join(parts)
