"""CDNOW as BG/NBD input: per-customer (x, t_x, T) in weeks at a calibration date, plus
what each customer bought afterwards (for the prediction report).

The published estimates (Fader, Hardie & Lee 2005) use the 1/10 systematic sample of
2,357 customers; ``CDNOW_sample.txt`` in the same wheel lists their master ids in its first
column. Purchases on the same day count as one occasion, as in the paper.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from bot.demo.cdnow import data_path, load_cdnow

CALIBRATION_END = date(1997, 9, 30)


@dataclass(frozen=True)
class Cohort:
    ids: np.ndarray
    x: np.ndarray  # repeat occasions in calibration
    tx: np.ndarray  # weeks from first to last occasion
    T: np.ndarray  # weeks from first occasion to the calibration end
    recency_days: np.ndarray
    spend_cents: np.ndarray
    holdout: np.ndarray  # occasions after the calibration end
    first_day: np.ndarray  # days since 1970
    last_day: np.ndarray


def sample_ids() -> set[int]:
    sample = Path(data_path()).with_name("CDNOW_sample.txt")
    return {
        int(line.split()[0])
        for line in sample.read_text(encoding="ascii").splitlines()
        if line.strip()
    }


def cohort(calibration_end: date = CALIBRATION_END, *, sample: bool = True) -> Cohort:
    keep = sample_ids() if sample else None
    days: dict[int, set[date]] = defaultdict(set)
    spend: dict[int, int] = defaultdict(int)
    for t in load_cdnow():
        if keep is None or t.customer_id in keep:
            days[t.customer_id].add(t.day)
            if t.day <= calibration_end:
                spend[t.customer_id] += t.cents
    ids, x, tx, T, rec, money, hold, first, last = ([] for _ in range(9))
    epoch = date(1970, 1, 1)
    for cid in sorted(days):
        seen = sorted(days[cid])
        cal = [d for d in seen if d <= calibration_end]
        if not cal:
            continue
        ids.append(cid)
        x.append(len(cal) - 1)
        tx.append((cal[-1] - cal[0]).days / 7)
        T.append((calibration_end - cal[0]).days / 7)
        rec.append((calibration_end - cal[-1]).days)
        money.append(spend[cid])
        hold.append(len(seen) - len(cal))
        first.append((cal[0] - epoch).days)
        last.append((cal[-1] - epoch).days)
    return Cohort(
        *(np.array(v, dtype=np.float64) for v in (ids, x, tx, T, rec, money, hold, first, last))
    )
