"""BG/NBD and MBG/NBD purchase models, fitted by maximum likelihood with numpy and scipy.

BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", Marketing
Science 24(2). On the CDNOW cohort (2,357 customers, weeks, calibration to 1997-09-30) the
paper reports r=0.243, alpha=4.414, a=0.793, b=2.426 and LL=-9582.4; ``fit`` reproduces them.

MBG/NBD: Batislam, Denizel & Filiztekin (2007), IJRM 24(3). It lets a customer drop out
right after the first purchase, so a one-time buyer's P(alive) is below 1. Plain BG/NBD says
P(alive) = 1 whenever x = 0, which would call every one-time buyer certainly alive; we score
customers with MBG/NBD for that reason (docs/lifecycle.md).

Inputs per customer, all in weeks: x = repeat purchase occasions, t_x = time of the last
purchase since the first, T = age since the first purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

Model = Literal["bgnbd", "mbgnbd"]
Array = NDArray[np.float64]


@dataclass(frozen=True)
class Params:
    r: float
    alpha: float
    a: float
    b: float
    model: Model = "mbgnbd"
    log_likelihood: float = float("nan")

    def as_dict(self) -> dict[str, float | str]:
        return {
            "r": self.r,
            "alpha": self.alpha,
            "a": self.a,
            "b": self.b,
            "model": self.model,
            "log_likelihood": self.log_likelihood,
        }


class _Loglik:
    """The per-customer log-likelihood, arranged for many evaluations on one data set.

    Every term that depends on the parameters and x alone (the gamma and beta functions) is
    computed once per distinct x, of which there are a few dozen, and gathered; only the
    log(alpha + T) and log(alpha + t_x) terms are per customer. The values are the same as
    computing every term per customer.
    """

    def __init__(self, x: Array, tx: Array, T: Array, model: Model) -> None:
        self.x, self.tx, self.T, self.model = x, tx, T, model
        self.ux, self.inv = np.unique(x, return_inverse=True)

    def __call__(self, r: float, alpha: float, a: float, b: float) -> Array:
        ux, inv, x = self.ux, self.inv, self.x
        common = (gammaln(r + ux) - gammaln(r) + r * np.log(alpha))[inv]
        if self.model == "bgnbd":
            survive = (betaln(a, b + ux) - betaln(a, b))[inv] - (r + x) * np.log(alpha + self.T)
            # the dropout term exists only after a repeat purchase (x > 0)
            um = np.maximum(ux, 1.0)
            drop_u = np.where(ux > 0, betaln(a + 1, b + um - 1) - betaln(a, b), -np.inf)
            drop = drop_u[inv] - (r + x) * np.log(alpha + self.tx)
        else:
            survive = (betaln(a, b + ux + 1) - betaln(a, b))[inv] - (r + x) * np.log(alpha + self.T)
            drop = (betaln(a + 1, b + ux) - betaln(a, b))[inv] - (r + x) * np.log(alpha + self.tx)
        out: Array = common + np.logaddexp(survive, drop)
        return out


def fit(
    x: Array, tx: Array, T: Array, model: Model = "bgnbd", start: Params | None = None
) -> Params:
    """Maximum-likelihood estimates. Parameters are optimised on the log scale (all > 0);
    ``start`` (a fit of similar data, e.g. the backtest's) only shortens the search."""
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (x, tx, T))
    if len(x) < 10:
        raise ValueError("too few customers to fit a purchase model (need at least 10)")
    loglik = _Loglik(x, tx, T, model)

    def nll(p: Array) -> float:
        r, alpha, a, b = np.exp(p)
        return float(-loglik(r, alpha, a, b).sum())

    if start is not None:
        begin = np.log([start.r, start.alpha, start.a, start.b])
    else:
        begin = np.log([0.5, max(float(np.mean(T)), 1.0) / 4, 1.0, 1.0])
    res = minimize(
        nll,
        begin,
        method="Nelder-Mead",
        options={"xatol": 1e-7, "fatol": 1e-7, "maxiter": 4000, "maxfev": 8000},
    )
    res = minimize(nll, res.x, method="L-BFGS-B")  # polish
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    return Params(r, alpha, a, b, model, -float(res.fun))


def p_alive(p: Params, x: Array, tx: Array, T: Array) -> Array:
    """P(the customer has not dropped out) given their history."""
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (x, tx, T))
    ratio = np.exp((p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + tx)))
    if p.model == "bgnbd":
        odds = np.where(x > 0, p.a / (p.b + np.maximum(x, 1.0) - 1) * ratio, 0.0)
    else:
        odds = p.a / (p.b + x) * ratio
    return 1.0 / (1.0 + odds)


def expected_purchases(p: Params, t: float, x: Array, tx: Array, T: Array) -> Array:
    """Expected purchase occasions in the next ``t`` weeks (Fader et al. eq. 10; Batislam eq. 7)."""
    x, tx, T = (np.asarray(v, dtype=np.float64) for v in (x, tx, T))
    z = t / (p.alpha + T + t)
    head = np.exp((p.r + x) * (np.log(p.alpha + T) - np.log(p.alpha + T + t)))
    if p.model == "bgnbd":
        num = (
            (p.a + p.b + x - 1)
            / (p.a - 1)
            * (1 - head * hyp2f1(p.r + x, p.b + x, p.a + p.b + x - 1, z))
        )
    else:
        num = (
            (p.a + p.b + x)
            / (p.a - 1)
            * (1 - head * hyp2f1(p.r + x, p.b + x + 1, p.a + p.b + x, z))
        )
    return np.maximum(num * p_alive(p, x, tx, T), 0.0)
