"""Scoring customers: P(alive), expected purchases, churn probability, RFM and stage, in bulk.

The full run reads ``customer_stats``, refits the purchase model when the last fit is older
than a week, ranks RFM over everyone and rescores every buyer. A refit also runs the
backtest (``backtest.py``), which reads the orders of a sample of customers only: the
calibration or logistic regression it picks scores churn until the next refit. The daily
incremental run rescoring only customers that are dirty (a new order or refund) or whose
``next_change_at`` has come, with the stored fit and RFM cut points.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import BigInteger, cast, func, or_, select
from sqlalchemy.orm import Session

from bot.lifecycle import backtest, bgnbd, churn, rfm, stages, store_writer
from bot.settings import Settings
from storage.db import Database
from storage.models import CustomerStats, ModelFit

log = logging.getLogger(__name__)
FIT_SAMPLE = 200_000  # the likelihood surface is settled long before this many customers
HORIZON_WEEKS = 90 / 7  # expected purchases over the next 90 days
COLUMNS = (
    "customer_id",
    "first_order_at",
    "last_order_at",
    "purchase_days",
    "spend_cents",
    "refund_cents",
    "typical_gap_days",
    "stage",
)


@dataclass
class RunReport:
    mode: str
    scored: int = 0
    refitted: bool = False
    params: dict[str, Any] | None = None
    churn_method: str | None = None
    backtest: dict[str, Any] | None = None
    changed: dict[str, int] | None = None


def rules_from(settings: Settings, calibrated: bool = True) -> stages.Rules:
    return stages.Rules(
        new_days=settings.new_customer_days,
        silent_ratio=settings.silent_gap_ratio,
        churn_ratio=settings.churn_gap_ratio,
        lost_ratio=settings.lost_gap_ratio,
        lost_p_alive=settings.lost_p_alive,
        min_gap_days=settings.min_gap_days,
        churn_p=settings.churn_risk_probability,
        lost_p=settings.lost_probability,
        horizon_days=settings.churn_horizon_days,
        churn_decides=calibrated,
    )


def _load(session: Session, where: Any = None) -> dict[str, Any]:
    """The scoring inputs as columns: times in integer microseconds (``stages.to_us``), gaps
    with NaN for none, the current stage as a list. Ordered by customer id, so the model's
    fit sample is the same for the same data."""
    cols: list[Any] = [getattr(CustomerStats, c) for c in COLUMNS]
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:  # PostgreSQL hands out the microseconds itself, faster than building datetimes
        for i in (1, 2):
            cols[i] = cast(func.extract("epoch", cols[i]) * 1_000_000, BigInteger)
    q = select(*cols).where(CustomerStats.order_count > 0).order_by(CustomerStats.customer_id)
    if where is not None:
        q = q.where(where)
    # Core rows, not ORM ones: the ORM's row processing costs more than the fetch itself.
    rows = session.connection().execute(q).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    raw = dict(zip(COLUMNS, columns, strict=True))
    n = len(rows)

    def times(name: str) -> NDArray[np.int64]:
        if pg:
            return np.fromiter(raw[name], np.int64, n)
        return stages.to_us(list(raw[name]))

    return {
        "customer_id": np.fromiter(raw["customer_id"], np.int64, n),
        "first_order_at": times("first_order_at"),
        "last_order_at": times("last_order_at"),
        "purchase_days": np.fromiter(raw["purchase_days"], np.int64, n),
        "spend_cents": np.fromiter(raw["spend_cents"], np.float64, n),
        "refund_cents": np.fromiter(raw["refund_cents"], np.float64, n),
        "typical_gap_days": np.fromiter(
            (np.nan if g is None else g for g in raw["typical_gap_days"]), np.float64, n
        ),
        "stage": list(raw["stage"]),
    }


def _features(
    data: dict[str, Any], now: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, t_x, T in weeks, and recency in days. Day boundaries are UTC days, like the stats;
    recency counts whole seconds."""
    now_us = (now - stages.EPOCH) // timedelta(microseconds=1)
    first_day = (data["first_order_at"] // stages.US_PER_DAY).astype(np.float64)
    last_day = (data["last_order_at"] // stages.US_PER_DAY).astype(np.float64)
    now_day = float(now_us // stages.US_PER_DAY)
    x = data["purchase_days"].astype(np.float64) - 1
    tx = (last_day - first_day) / 7
    T = np.maximum((now_day - first_day) / 7, tx)
    seconds = now_us // 1_000_000 - data["last_order_at"] // 1_000_000
    recency = seconds.astype(np.float64) / 86400
    return x, tx, T, recency


def _params(fit_row: ModelFit) -> bgnbd.Params:
    return bgnbd.Params(**{k: fit_row.params[k] for k in ("r", "alpha", "a", "b")}, model="mbgnbd")


def latest_fit(session: Session) -> ModelFit | None:
    return session.scalars(
        select(ModelFit).where(ModelFit.model == "mbgnbd").order_by(ModelFit.id.desc()).limit(1)
    ).first()


def full(
    db: Database,
    settings: Settings,
    now: datetime,
    *,
    refit: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    report = RunReport("full")
    with db.session() as session:
        data = _load(session)
        fit_row = latest_fit(session)
    n = len(data["customer_id"])
    if n == 0:
        return report
    x, tx, T, recency = _features(data, now)
    due = fit_row is None or (now - fit_row.fitted_at) >= timedelta(days=7)
    if refit or (refit is None and due) or fit_row is None:
        rng = np.random.default_rng(0)
        pick = (
            rng.choice(n, size=min(n, FIT_SAMPLE), replace=False)
            if n > FIT_SAMPLE
            else np.arange(n)
        )
        # Last week's fit is a good start: the weekly refit only moves it a little.
        start = _params(fit_row) if fit_row is not None else None
        params = bgnbd.fit(x[pick], tx[pick], T[pick], model="mbgnbd", start=start)
        report.refitted = True
        began = time.perf_counter()
        with db.session() as session:
            scorer, report.backtest = backtest.run(
                session, data, now, settings.churn_horizon_days, _features, start=params
            )
            second = backtest.second_purchase_days(session, data)
        report.backtest["seconds"] = round(time.perf_counter() - began, 2)
    else:
        params = _params(fit_row)
        scorer = churn.Scorer.from_dict(fit_row.params.get("churn"), settings.churn_horizon_days)
        second = fit_row.params.get("second_purchase_days")
    report.churn_method = scorer.method
    if progress:
        progress(0, n)
    net = (data["spend_cents"] - data["refund_cents"]) / 100
    occasions = data["purchase_days"].astype(np.float64)
    cuts = rfm.cuts(recency, occasions, net)
    ids = data["customer_id"]
    r = rfm.quintiles(recency, ids, higher_is_better=False)
    f = rfm.quintiles(occasions, ids)
    m = rfm.quintiles(net, ids)
    gaps = data["typical_gap_days"][~np.isnan(data["typical_gap_days"])]
    population_gap = float(np.median(gaps)) if len(gaps) else 90.0
    if settings.one_time_silent_days:
        population_gap = float(settings.one_time_silent_days)
    with db.uow() as uow:
        if report.refitted:
            uow.session.add(
                ModelFit(
                    model="mbgnbd",
                    params={
                        **params.as_dict(),
                        "population_gap": population_gap,
                        "rfm": cuts.as_dict(),
                        "churn": scorer.as_dict(),
                        "backtest": report.backtest,
                        "second_purchase_days": second,
                    },
                    log_likelihood=params.log_likelihood,
                    customers=len(x) if n <= FIT_SAMPLE else FIT_SAMPLE,
                    calibration_end=now,
                    fitted_at=now,
                )
            )
        elif fit_row is not None:
            fit = uow.session.get(ModelFit, fit_row.id)
            assert fit is not None
            fit.params = {**fit.params, "population_gap": population_gap, "rfm": cuts.as_dict()}
        uow.commit()
    report.params = {**params.as_dict(), "population_gap": population_gap}
    report.changed = _score_and_write(
        db,
        settings,
        now,
        data,
        (params, scorer),
        population_gap,
        (x, tx, T, recency),
        (r, f, m),
        progress,
    )
    report.scored = n
    return report


def incremental(
    db: Database,
    settings: Settings,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    with db.session() as session:
        fit_row = latest_fit(session)
        if fit_row is None:
            session.close()
            return full(db, settings, now, refit=True, progress=progress)
        data = _load(
            session, or_(CustomerStats.dirty.is_(True), CustomerStats.next_change_at <= now)
        )
    report = RunReport("incremental", params=dict(fit_row.params))
    n = len(data["customer_id"])
    if n == 0:
        report.changed = {}
        return report
    params = bgnbd.Params(
        **{k: fit_row.params[k] for k in ("r", "alpha", "a", "b")}, model="mbgnbd"
    )
    scorer = churn.Scorer.from_dict(fit_row.params.get("churn"), settings.churn_horizon_days)
    report.churn_method = scorer.method
    x, tx, T, recency = _features(data, now)
    cuts = rfm.Cuts(**fit_row.params["rfm"])
    net = (data["spend_cents"] - data["refund_cents"]) / 100
    r, f, m = rfm.score_many(cuts, recency, data["purchase_days"].astype(np.float64), net)
    report.changed = _score_and_write(
        db,
        settings,
        now,
        data,
        (params, scorer),
        float(fit_row.params["population_gap"]),
        (x, tx, T, recency),
        (r, f, m),
        progress,
    )
    report.scored = n
    return report


def _score_and_write(
    db: Database,
    settings: Settings,
    now: datetime,
    data: dict[str, Any],
    model: tuple[bgnbd.Params, churn.Scorer],
    population_gap: float,
    feats: tuple[np.ndarray, ...],
    scores: tuple[np.ndarray, ...],
    progress: Callable[[int, int], None] | None,
) -> dict[str, int]:
    x, tx, T, recency = feats
    params, scorer = model
    r, f, m = scores
    alive = bgnbd.p_alive(params, x, tx, T)
    net = data["spend_cents"] - data["refund_cents"]
    churn_p = scorer.score(params, x, tx, T, recency, net)
    expected = bgnbd.expected_purchases(params, HORIZON_WEEKS, x, tx, T)
    verdicts = stages.decide_many(
        now=now,
        first=data["first_order_at"],
        last=data["last_order_at"],
        occasions=data["purchase_days"],
        own_gap=data["typical_gap_days"],
        population_gap=population_gap,
        p_alive=alive,
        rules=rules_from(settings, calibrated=scorer.method != "mbgnbd-raw"),
        current=data["stage"],
        churn=churn_p,
    )
    changed: dict[str, int] = {}
    for before, after in zip(data["stage"], verdicts.stage, strict=True):
        if before != after:
            key = f"{before}->{after}"
            changed[key] = changed.get(key, 0) + 1
    rows: list[tuple[Any, ...]] = list(
        zip(
            data["customer_id"].tolist(),
            r.tolist(),
            f.tolist(),
            m.tolist(),
            rfm.segments(r, f, m),
            [round(v, 4) for v in alive.tolist()],
            [round(v, 4) for v in expected.tolist()],
            [round(v, 4) for v in churn_p.tolist()],
            verdicts.stage,
            verdicts.reason,
            verdicts.next_change_at,
            strict=True,
        )
    )
    if progress:
        progress(len(rows) // 2, len(rows))
    store_writer.write_scores(db, rows, now)
    if progress:
        progress(len(rows), len(rows))
    return changed
