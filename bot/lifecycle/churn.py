"""Churn probability: P(no purchase in the next h days), from the purchase model, calibrated
on the shop's own history, or from a logistic regression when that ranks better.

MBG/NBD gives it in closed form: a customer who is still alive buys at rate λ, whose
posterior given (x, T) is Gamma(r + x, α + T), so P(no purchase in t | alive) =
((α + T) / (α + T + t))^(r + x), and

    P(no purchase in t) = 1 − P(alive) · (1 − ((α + T) / (α + T + t))^(r + x)).

The fit is over-confident about dropout on real data (CDNOW: it says 0.763 where 0.701
happened), so the raw value is recalibrated on a backtest (``backtest.py``) with Platt
scaling on its logit: monotone, so it keeps the model's ranking and only fixes the level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit
from scipy.stats import rankdata

from bot.lifecycle import bgnbd

Array = NDArray[np.float64]
EPS = 1e-6


def raw(p: bgnbd.Params, x: Array, tx: Array, T: Array, weeks: float) -> Array:
    alive = bgnbd.p_alive(p, x, tx, T)
    quiet = np.exp((p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + T + weeks)))
    out: Array = 1.0 - alive * (1.0 - quiet)
    return out


def _logit(v: Array) -> Array:
    c = np.clip(v, EPS, 1 - EPS)
    out: Array = np.log(c / (1 - c))
    return out


FEATURES = (
    "log recency",
    "log occasions",
    "log age",
    "log net spend",
    "one-time buyer",
    "logit model churn",
    "log model E[purchases]",
    "log recency²",
    "log occasions²",
    "log recency × log occasions",
    "repeat × log(recency / age)",
    "occasions per 30 days",
    "log spend per occasion",
    "one-time × log age",
    "one-time × log spend",
)


def features(
    p: bgnbd.Params,
    x: Array,
    tx: Array,
    T: Array,
    recency_days: Array,
    net: Array,
    weeks: float,
) -> Array:
    """RFM-style features from the stats alone (recency, frequency, age, spend) plus the
    model's own churn and expected purchases; no feature needs the order table."""
    age = T * 7
    one = (x == 0).astype(np.float64)
    rep = 1 - one
    lr, lx, la = np.log1p(recency_days), np.log1p(x), np.log1p(age)
    lm = np.log1p(np.maximum(net, 0) / 100)
    lg = _logit(raw(p, x, tx, T, weeks))
    le = np.log(bgnbd.expected_purchases(p, weeks, x, tx, T) + EPS)
    cols = [
        lr,
        lx,
        la,
        lm,
        one,
        lg,
        le,
        lr**2,
        lx**2,
        lr * lx,
        rep * np.log((recency_days + 1) / (age + 1)),
        x / np.maximum(age, 1) * 30,
        np.log1p(np.maximum(net, 0) / 100 / (x + 1)),
        one * la,
        one * lm,
    ]
    return np.stack(cols, axis=1)


def _fit_logistic(Z: Array, y: Array, l2: float) -> Array:
    """Penalised maximum likelihood by Newton's method: with a dozen features each step is
    one small matrix solve, and a handful of steps converge (L-BFGS needed hundreds)."""
    Z1 = np.c_[np.ones(len(Z)), Z]
    penalty = np.r_[0.0, np.ones(Z.shape[1])] * l2
    w = np.zeros(Z1.shape[1])
    for _ in range(50):
        p = expit(Z1 @ w)
        grad = Z1.T @ (p - y) + penalty * w
        hess = (Z1 * (p * (1 - p))[:, None]).T @ Z1 + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.max(np.abs(step)) < 1e-8:
            break
    out: Array = w
    return out


@dataclass(frozen=True)
class Logistic:
    """Standardised features, L2-penalised weights (intercept unpenalised)."""

    mean: list[float]
    scale: list[float]
    weights: list[float]

    @classmethod
    def fit(cls, X: Array, y: Array, l2: float = 10.0) -> Logistic:
        mu, sd = X.mean(axis=0), X.std(axis=0) + 1e-9
        w = _fit_logistic((X - mu) / sd, y.astype(np.float64), l2)
        return cls(mu.tolist(), sd.tolist(), w.tolist())

    def predict(self, X: Array) -> Array:
        z = (X - np.array(self.mean)) / np.array(self.scale)
        out: Array = expit(np.c_[np.ones(len(z)), z] @ np.array(self.weights))
        return out

    def as_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean, "scale": self.scale, "weights": self.weights}


@dataclass(frozen=True)
class Platt:
    a: float
    b: float

    @classmethod
    def fit(cls, score: Array, y: Array) -> Platt:
        w = _fit_logistic(_logit(score)[:, None], y.astype(np.float64), 0.0)
        return cls(float(w[1]), float(w[0]))

    def apply(self, score: Array) -> Array:
        out: Array = expit(self.a * _logit(score) + self.b)
        return out


@dataclass(frozen=True)
class Scorer:
    """What the engine uses to turn a customer's stats into a churn probability: the
    calibrated model, or the logistic regression (``method``), for ``horizon_days``."""

    method: str  # "mbgnbd" (calibrated), "logistic" or "mbgnbd-raw" (no backtest possible)
    horizon_days: int
    platt: Platt | None = None
    logistic: Logistic | None = None

    def score(
        self, p: bgnbd.Params, x: Array, tx: Array, T: Array, recency: Array, net: Array
    ) -> Array:
        weeks = self.horizon_days / 7
        if self.method == "logistic" and self.logistic is not None:
            return self.logistic.predict(features(p, x, tx, T, recency, net, weeks))
        r = raw(p, x, tx, T, weeks)
        return self.platt.apply(r) if self.platt is not None else r

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "horizon_days": self.horizon_days,
            "platt": None if self.platt is None else [self.platt.a, self.platt.b],
            "logistic": None if self.logistic is None else self.logistic.as_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, horizon_days: int) -> Scorer:
        if not d or int(d.get("horizon_days", 0)) != horizon_days:
            return cls("mbgnbd-raw", horizon_days)  # a horizon changed: the old fit does not apply
        platt = Platt(*d["platt"]) if d.get("platt") else None
        logistic = Logistic(**d["logistic"]) if d.get("logistic") else None
        return cls(d["method"], horizon_days, platt, logistic)


# Metrics (the backtest and the CDNOW report use the same ones).


def auc(score: Array, positive: NDArray[np.bool_]) -> float | None:
    """P(a random positive outscores a random negative), ties half (rank-sum form)."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    # A diverged fit scores some customers NaN: no rank exists, and a NaN figure would make the
    # backtest's JSON unstorable on PostgreSQL (the nightly recompute failed on it).
    if not n_pos or not n_neg or not np.isfinite(score).all():
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(score: Array, positive: NDArray[np.bool_]) -> float | None:
    """Average precision: the mean precision at each positive, best scores first."""
    if not positive.any() or not np.isfinite(score).all():
        return None
    order = np.argsort(-score, kind="mergesort")
    hits = positive[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def calibration_table(p: Array, y: NDArray[np.bool_], bins: int = 10) -> list[dict[str, float]]:
    """Deciles of the predicted probability: customers, mean predicted, share observed."""
    if not len(p):
        return []
    order = np.argsort(p, kind="mergesort")
    out = []
    for part in np.array_split(order, min(bins, len(p))):
        out.append(
            {
                "n": len(part),
                "predicted": round(float(p[part].mean()), 4),
                "observed": round(float(y[part].mean()), 4),
            }
        )
    return out


def top_k(score: Array, y: NDArray[np.bool_], value: Array, k: int) -> dict[str, float | int]:
    """The k highest scores: how many truly stayed away, and their yearly value (cents)."""
    top = np.argsort(-score, kind="mergesort")[:k]
    return {
        "k": len(top),
        "precision": round(float(y[top].mean()), 4) if len(top) else 0.0,
        "value_lost_cents": int(value[top][y[top]].sum()),
    }
