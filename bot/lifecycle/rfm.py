"""RFM: quintile scores 1–5 and named segments.

Scores come from ranks over the whole customer base, so they are recomputed in the full run;
the cut points are kept with the model fit, so a customer rescored in the daily incremental
run gets the score the same thresholds give. Ties break on customer id, so the same data
always yields the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Cuts:
    """Upper bounds of quintiles 1..4 for recency days (lower is better), occasions, spend."""

    recency: list[float]
    frequency: list[float]
    monetary: list[float]

    def as_dict(self) -> dict[str, list[float]]:
        return {"recency": self.recency, "frequency": self.frequency, "monetary": self.monetary}


def quintiles(
    values: NDArray[np.float64], ids: NDArray[np.int64], higher_is_better: bool = True
) -> NDArray[np.int64]:
    """1..5 by rank; equal values are ordered by id (deterministic), 5 is best."""
    order = np.lexsort((ids, values if higher_is_better else -values))
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.arange(len(values))
    return (ranks * 5 // max(len(values), 1) + 1).astype(np.int64)


def cuts(
    recency_days: NDArray[np.float64], occasions: NDArray[np.float64], spend: NDArray[np.float64]
) -> Cuts:
    q = [20, 40, 60, 80]
    return Cuts(
        recency=[float(v) for v in np.percentile(recency_days, q)]
        if len(recency_days)
        else [0.0] * 4,
        frequency=[float(v) for v in np.percentile(occasions, q)] if len(occasions) else [0.0] * 4,
        monetary=[float(v) for v in np.percentile(spend, q)] if len(spend) else [0.0] * 4,
    )


def score_with(
    c: Cuts, recency_days: float, occasions: float, spend: float
) -> tuple[int, int, int]:
    """Score one customer against stored cut points (the incremental path)."""
    r = 5 - int(np.searchsorted(c.recency, recency_days, side="left"))
    f = 1 + int(np.searchsorted(c.frequency, occasions, side="left"))
    m = 1 + int(np.searchsorted(c.monetary, spend, side="left"))
    return max(1, min(5, r)), max(1, min(5, f)), max(1, min(5, m))


# Narrow segments first: the first rule that matches names the customer.
SEGMENTS: list[tuple[str, str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]]] = [
    # name, Chinese, (R range, F range, M range) inclusive
    ("Champions", "重要价值", ((4, 5), (4, 5), (4, 5))),
    ("Can't Lose Them", "不能失去", ((1, 2), (4, 5), (4, 5))),
    ("Loyal", "忠诚客户", ((3, 5), (4, 5), (1, 5))),
    ("At Risk", "流失风险", ((1, 2), (3, 5), (1, 5))),
    ("New Customers", "新客户", ((5, 5), (1, 1), (1, 5))),
    ("Potential Loyalists", "潜力客户", ((4, 5), (1, 3), (1, 5))),
    ("Need Attention", "需要关注", ((3, 3), (2, 3), (1, 5))),
    ("About to Sleep", "即将沉睡", ((3, 3), (1, 1), (1, 5))),
    ("Lost", "已流失", ((1, 1), (1, 1), (1, 5))),
    ("Hibernating", "沉睡客户", ((1, 2), (1, 2), (1, 5))),
]
ZH = {name: zh for name, zh, _ in SEGMENTS}


def segment(r: int, f: int, m: int) -> str:
    for name, _, ((r0, r1), (f0, f1), (m0, m1)) in SEGMENTS:
        if r0 <= r <= r1 and f0 <= f <= f1 and m0 <= m <= m1:
            return name
    return "Hibernating"


def score_many(
    c: Cuts,
    recency_days: NDArray[np.float64],
    occasions: NDArray[np.float64],
    spend: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """``score_with`` for many customers at once (the same thresholds, the same scores)."""
    r = 5 - np.searchsorted(c.recency, recency_days, side="left")
    f = 1 + np.searchsorted(c.frequency, occasions, side="left")
    m = 1 + np.searchsorted(c.monetary, spend, side="left")
    return tuple(np.clip(v, 1, 5).astype(np.int64) for v in (r, f, m))  # type: ignore[return-value]


_TABLE = [[[segment(r, f, m) for m in range(1, 6)] for f in range(1, 6)] for r in range(1, 6)]


def segments(r: NDArray[np.int64], f: NDArray[np.int64], m: NDArray[np.int64]) -> list[str]:
    """``segment`` for many customers: a lookup in the 5×5×5 table of its answers."""
    return [
        _TABLE[a - 1][b - 1][c - 1]
        for a, b, c in zip(r.tolist(), f.tolist(), m.tolist(), strict=True)
    ]
