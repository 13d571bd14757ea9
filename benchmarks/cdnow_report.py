"""How well the lifecycle engine predicts churn on real data (CDNOW).

Runs the engine's own code (MBG/NBD fit, P(alive), the stage rules) on the full CDNOW master
log as of 1997-09-30, then checks the next 39 weeks: does "churn_risk or lost" predict no
purchase? Compared with the naive "no purchase in the last 90 days" rule. AUC is for
1 − P(alive) as a score of "no purchase in the next 39 weeks".

    python benchmarks/cdnow_report.py            # prints a Markdown table
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.lifecycle import bgnbd
from bot.lifecycle.cdnow import CALIBRATION_END, cohort
from bot.lifecycle.stages import Rules, decide


def auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Probability a random positive outscores a random negative (ties count half)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):  # average ranks over ties
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scores(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float, float]:
    tp = int((predicted & actual).sum())
    precision = tp / max(int(predicted.sum()), 1)
    recall = tp / max(int(actual.sum()), 1)
    accuracy = float((predicted == actual).mean())
    return precision, recall, accuracy


def main() -> None:
    c = cohort(CALIBRATION_END, sample=False)
    now = datetime.combine(CALIBRATION_END, datetime.min.time(), UTC) + timedelta(
        hours=23, minutes=59
    )
    params = bgnbd.fit(c.x, c.tx, c.T, model="mbgnbd")
    alive = bgnbd.p_alive(params, c.x, c.tx, c.T)
    gaps = (c.tx * 7 / np.maximum(c.x, 1))[c.x > 0]
    population_gap = float(np.median(gaps))
    rules = Rules()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    stage = []
    for i in range(len(c.x)):
        first = epoch + timedelta(days=float(c.first_day[i]))
        last = epoch + timedelta(days=float(c.last_day[i]))
        own = float(c.tx[i] * 7 / c.x[i]) if c.x[i] > 0 else None
        stage.append(
            decide(
                now=now,
                first=first,
                last=last,
                occasions=int(c.x[i]) + 1,
                own_gap=own,
                population_gap=population_gap,
                p_alive=float(alive[i]),
                rules=rules,
            ).stage
        )
    stages = np.array(stage)
    quiet = c.holdout == 0  # no purchase in the next 39 weeks
    engine = np.isin(stages, ["churn_risk", "lost"])
    naive = c.recency_days > 90
    print(
        f"CDNOW master, {len(c.x):,} customers, as of {CALIBRATION_END}; "
        f"{int(quiet.sum()):,} ({quiet.mean():.1%}) made no purchase in the next 39 weeks."
    )
    print(
        f"MBG/NBD r={params.r:.3f} alpha={params.alpha:.3f} a={params.a:.3f} b={params.b:.3f}; "
        f"population median gap {population_gap:.0f} days\n"
    )
    print("| rule | flagged | precision | recall | accuracy |")
    print("|---|---|---|---|---|")
    for name, pred in (
        ("engine: churn_risk or lost", engine),
        ("naive: no purchase in 90 days", naive),
        ("engine: lost only", stages == "lost"),
    ):
        p, r, a = scores(pred, quiet)
        print(f"| {name} | {int(pred.sum()):,} | {p:.3f} | {r:.3f} | {a:.3f} |")
    print(
        f"\nAUC of 1 − P(alive) (MBG/NBD) for no purchase in 39 weeks: {auc(1 - alive, quiet):.3f}"
    )
    expected = bgnbd.expected_purchases(params, 39, c.x, c.tx, c.T)
    print(f"AUC of −E[purchases in 39 weeks] (MBG/NBD): {auc(-expected, quiet):.3f}")
    plain = bgnbd.fit(c.x, c.tx, c.T, model="bgnbd")
    print(
        f"AUC of 1 − P(alive) from plain BG/NBD: {auc(1 - bgnbd.p_alive(plain, c.x, c.tx, c.T), quiet):.3f}"
        " (one-time buyers all get P(alive) = 1)"
    )
    print(
        f"AUC of days since last purchase (the naive score): {auc(c.recency_days.astype(float), quiet):.3f}"
    )
    counts = {s: int((stages == s).sum()) for s in ("active", "silent", "churn_risk", "lost")}
    print("\nstages: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
