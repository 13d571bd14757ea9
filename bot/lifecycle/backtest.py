"""The weekly backtest on the shop's own history: fit as of today − H, score, and compare with
what happened in the last H days.

Only the shop's past is used: the state of each customer at the cutoff comes from their own
orders up to it, the outcome from whether they ordered after it. The calibration (Platt on
the model's churn) and the logistic regression are trained on that window, and the two are
compared out of fold (customers split in two by id): the engine uses the logistic
regression only when it ranks better, and the report says which one it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.orm import Session

from bot.lifecycle import bgnbd, churn, stages
from bot.lifecycle.tasks import _id_filters
from storage.models import Order

SAMPLE = 30_000  # customers; AUC within about ±0.005, calibration deciles of 3,000 each
INTERVAL_SAMPLE = 2_000  # repeat buyers read for the first-to-second interval (a median)
MIN_CUSTOMERS = 200
Features = Callable[[dict[str, Any], datetime], tuple[Any, Any, Any, Any]]


def _pick(n: int, size: int, seed: int = 0) -> np.ndarray:
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def _orders(
    session: Session, ids: list[int], until: datetime | None = None
) -> dict[str, np.ndarray]:
    """The orders of these customers as columns: customer, time (µs since the epoch), paid,
    refunded. Core rows; PostgreSQL hands out the microseconds itself (as ``_load`` does)."""
    pg = session.get_bind().dialect.name == "postgresql"
    at: Any = Order.ordered_at
    if pg:
        at = cast(func.extract("epoch", Order.ordered_at) * 1_000_000, BigInteger)
    cols: list[list[Any]] = [[], [], [], []]
    for flt in _id_filters(session, Order.customer_id, ids):
        q = select(Order.customer_id, at, Order.paid_cents, Order.refunded_cents).where(flt)
        if until is not None:
            q = q.where(Order.ordered_at <= until)
        rows = session.connection().execute(q).all()
        if rows:
            for col, values in zip(cols, zip(*rows, strict=True), strict=True):
                col.extend(values)
    times = np.array(cols[1], dtype=np.int64) if pg else stages.to_us(cols[1])
    return {
        "customer_id": np.array(cols[0], dtype=np.int64),
        "at": times,
        "paid": np.array(cols[2], dtype=np.int64),
        "refunded": np.array([v or 0 for v in cols[3]], dtype=np.int64),
    }


def _as_of(session: Session, data: dict[str, Any], cutoff: datetime) -> dict[str, Any] | None:
    """The customers who had bought by the cutoff, as they stood then, and whether they
    stayed away after it (no order in (cutoff, now])."""
    cut_us = int(stages.to_us([cutoff])[0])
    had = np.flatnonzero(data["first_order_at"] <= cut_us)
    if len(had) < MIN_CUSTOMERS:
        return None
    idx = had[_pick(len(had), SAMPLE)]
    ids = data["customer_id"][idx]
    first = data["first_order_at"][idx].copy()
    last = data["last_order_at"][idx].copy()
    days = data["purchase_days"][idx].copy()
    spend = data["spend_cents"][idx].copy()
    refund = data["refund_cents"][idx].copy()
    stayed = last <= cut_us
    moved = np.flatnonzero(~stayed)
    # Customers who bought since the cutoff: rebuild their state from their orders up to it.
    o = _orders(session, ids[moved].tolist(), until=cutoff)
    keep_o = o["at"] <= cut_us
    cust, at = o["customer_id"][keep_o], o["at"][keep_o]
    pos = moved[np.searchsorted(ids[moved], cust)]  # ids are sorted (customer id order)
    days[moved] = 0  # stats ahead of the orders (a merge) leave a customer with none: dropped
    first[moved], last[moved] = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    np.minimum.at(first, pos, at)
    np.maximum.at(last, pos, at)
    occasions = np.unique(np.stack([pos, at // stages.US_PER_DAY]), axis=1)[0]
    np.add.at(days, occasions, 1)
    spend[moved], refund[moved] = 0, 0
    np.add.at(spend, pos, o["paid"][keep_o])
    np.add.at(refund, pos, o["refunded"][keep_o])
    keep = days > 0
    return {
        "customer_id": ids[keep],
        "first_order_at": first[keep],
        "last_order_at": last[keep],
        "purchase_days": days[keep],
        "spend_cents": spend[keep],
        "refund_cents": refund[keep],
        "stayed": stayed[keep],
    }


def _groups(score: np.ndarray, y: np.ndarray, repeat: np.ndarray) -> dict[str, float | None]:
    return {
        "auc": churn.auc(score, y),
        "auc_repeat": churn.auc(score[repeat], y[repeat]),
        "auc_one_time": churn.auc(score[~repeat], y[~repeat]),
        "pr_auc": churn.pr_auc(score, y),
    }


def run(
    session: Session,
    data: dict[str, Any],
    now: datetime,
    horizon_days: int,
    features: Features,
    start: bgnbd.Params | None = None,
) -> tuple[churn.Scorer, dict[str, Any]]:
    """The scorer to use from now on and the backtest's figures (stored with the fit)."""
    cutoff = now - timedelta(days=horizon_days)
    state = _as_of(session, data, cutoff)
    if state is None or state["stayed"].all() or not state["stayed"].any():
        why = "too little history before the cutoff" if state is None else "one outcome only"
        return churn.Scorer("mbgnbd-raw", horizon_days), {
            "cutoff": cutoff.isoformat(),
            "skipped": why,
        }
    y = state["stayed"]
    x, tx, T, recency = features(state, cutoff)
    pick = _pick(len(x), 200_000)
    params = bgnbd.fit(x[pick], tx[pick], T[pick], model="mbgnbd", start=start)
    weeks = horizon_days / 7
    net = (state["spend_cents"] - state["refund_cents"]).astype(np.float64)
    raw = churn.raw(params, x, tx, T, weeks)
    X = churn.features(params, x, tx, T, recency, net, weeks)
    fold = (state["customer_id"] % 2).astype(bool)
    model_oof, lr_oof = np.empty(len(y)), np.empty(len(y))
    for test in (fold, ~fold):
        train = ~test
        model_oof[test] = churn.Platt.fit(raw[train], y[train]).apply(raw[test])
        lr_oof[test] = churn.Logistic.fit(X[train], y[train]).predict(X[test])
    repeat = x > 0
    model_fig = _groups(model_oof, y, repeat)
    lr_fig = _groups(lr_oof, y, repeat)
    use_lr = (lr_fig["auc"] or 0) > (model_fig["auc"] or 0)
    scorer = churn.Scorer(
        "logistic" if use_lr else "mbgnbd",
        horizon_days,
        churn.Platt.fit(raw, y),
        churn.Logistic.fit(X, y) if use_lr else None,
    )
    chosen = lr_oof if use_lr else model_oof
    years = np.maximum((T * 7) / 365.25, 0.25)
    value = np.maximum(net, 0) / years
    loss = chosen * value
    report = {
        "cutoff": cutoff.isoformat(),
        "customers": len(y),
        "repeat_buyers": int(repeat.sum()),
        "stayed_away": round(float(y.mean()), 4),
        "raw_mean": round(float(raw.mean()), 4),
        "method": scorer.method,
        "model": model_fig,
        "logistic": lr_fig,
        "recency_auc": churn.auc(recency, y),
        "calibration": churn.calibration_table(chosen, y),
        "top_k": [{"by": "expected loss", **churn.top_k(loss, y, value, k)} for k in (200, 1000)]
        + [{"by": "churn probability", **churn.top_k(chosen, y, value, k)} for k in (200, 1000)],
    }
    return scorer, report


def second_purchase_days(session: Session, data: dict[str, Any]) -> float | None:
    """The shop's median days from the first purchase occasion to the second, over a
    sample of repeat buyers (the stats keep first and last only, so this reads orders)."""
    repeat = np.flatnonzero(data["purchase_days"] >= 2)
    if not len(repeat):
        return None
    ids = data["customer_id"][repeat[_pick(len(repeat), INTERVAL_SAMPLE, seed=1)]]
    o = _orders(session, ids.tolist())
    if not len(o["at"]):
        return None
    pairs = np.unique(np.stack([o["customer_id"], o["at"] // stages.US_PER_DAY]), axis=1)
    cust, day = pairs  # sorted by customer, then day
    start = np.r_[0, np.flatnonzero(np.diff(cust)) + 1]
    count = np.diff(np.r_[start, len(cust)])
    two = start[count >= 2]
    return float(np.median(day[two + 1] - day[two])) if len(two) else None
