"""How well the retention engine predicts churn on real data (CDNOW), through the product.

The full CDNOW master log (23,570 customers) up to 1997-09-30 is written as store, staff,
customer and order CSVs (10 guides, customers dealt round-robin) and goes through the
product's own commands in a fresh database:

    scrm import stores|staff|customers|orders …
    scrm recompute --full --refit --today 1997-09-30
    scrm tasks generate --date 1997-10-01
    scrm customers export …

Orders after 1997-09-30 are never loaded: the engine sees no hold-out data in any feature,
fit or threshold. The report then reads the export and compares it with what the customers
really did in the next 39 weeks (and in the next 90 days, the churn horizon).

    python benchmarks/cdnow_report.py [--database-url URL] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.demo.cdnow import load_cdnow
from bot.lifecycle.churn import auc, calibration_table, pr_auc

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(1997, 9, 30)
HOLDOUT_WEEKS = 39
GUIDES = 10
RANK = {"active": 0, "new": 0, "silent": 1, "churn_risk": 2, "lost": 3}


def write_inputs(folder: Path) -> dict[int, dict[str, int]]:
    """The CSVs the shop would import, and per customer what happened after TODAY."""
    after: dict[int, dict[str, int]] = defaultdict(lambda: {"days39": 0, "days90": 0})
    orders: list[tuple[str, str, str, str]] = []
    seen: dict[int, int] = defaultdict(int)
    end39 = TODAY + timedelta(weeks=HOLDOUT_WEEKS)
    days: dict[int, set[date]] = defaultdict(set)
    for t in load_cdnow():
        if t.day <= TODAY:
            seen[t.customer_id] += 1
            member = f"C{t.customer_id:05d}"
            no = f"{member}-{seen[t.customer_id]}"
            orders.append((no, member, f"{t.day.isoformat()} 12:00:00", f"{t.cents / 100:.2f}"))
        elif t.day not in days[t.customer_id]:
            days[t.customer_id].add(t.day)
            after[t.customer_id]["days39"] += t.day <= end39
            after[t.customer_id]["days90"] += t.day <= TODAY + timedelta(days=90)
    customers = sorted(seen)
    with (folder / "stores.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([("code", "name"), ("S1", "CDNOW")])
    with (folder / "staff.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("code", "name", "role", "store", "locale"))
        w.writerows((f"G{i:02d}", f"Guide {i}", "guide", "S1", "en") for i in range(GUIDES))
        w.writerow(("A1", "Admin", "admin", "S1", "en"))
    with (folder / "customers.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("member_no", "name", "store", "guide"))
        w.writerows((f"C{c:05d}", f"Customer {c}", "S1", f"G{c % GUIDES:02d}") for c in customers)
    with (folder / "orders.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(("order_no", "member_no", "ordered_at", "paid", "store"))
        w.writerows((*o, "S1") for o in orders)
    return {c: after[c] for c in customers}


def scrm(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"scrm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def precision_at_recall(score: np.ndarray, y: np.ndarray, recall: float) -> float:
    """Flag the highest scores until ``recall`` of the positives are caught."""
    order = np.argsort(-score, kind="mergesort")
    caught = np.cumsum(y[order])
    k = int(np.searchsorted(caught, recall * y.sum())) + 1
    return float(caught[k - 1] / k)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", default=None, help="default: a new SQLite file")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="append the figures as JSON")
    args = ap.parse_args()
    folder = args.workdir or Path(tempfile.mkdtemp(prefix="cdnow_"))
    folder.mkdir(parents=True, exist_ok=True)
    truth = write_inputs(folder)
    url = args.database_url or f"sqlite:///{folder / 'cdnow.db'}"
    env = {**os.environ, "SCRM_DATABASE_URL": url, "SCRM_TIMEZONE": "Asia/Shanghai"}
    scrm(env, "db", "upgrade")
    for kind in ("stores", "staff", "customers", "orders"):
        scrm(env, "import", kind, str(folder / f"{kind}.csv"))
    recompute_out = scrm(env, "recompute", "--full", "--refit", "--today", TODAY.isoformat())
    tasks_out = scrm(env, "tasks", "generate", "--date", (TODAY + timedelta(days=1)).isoformat())
    export = folder / "export.csv"
    scrm(
        env, "customers", "export", str(export), "--today", (TODAY + timedelta(days=1)).isoformat()
    )
    model_report = scrm(env, "model", "report")

    with export.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    cid = np.array([int(r["member_no"][1:]) for r in rows])
    p = np.array([float(r["churn_probability"]) for r in rows])
    stage = np.array([r["stage"] for r in rows])
    value = np.array([float(r["value_at_risk"]) for r in rows])
    tasked = np.array([r["task_rank"] != "" for r in rows])
    quiet = np.array([truth[c]["days39"] == 0 for c in cid])
    quiet90 = np.array([truth[c]["days90"] == 0 for c in cid])
    last = {}
    for t in load_cdnow():
        if t.day <= TODAY:
            last[t.customer_id] = t.day
    recency = np.array([(TODAY - last[c]).days for c in cid], dtype=float)
    counts: dict[int, set[date]] = defaultdict(set)
    for t in load_cdnow():
        if t.day <= TODAY:
            counts[t.customer_id].add(t.day)
    repeat = np.array([len(counts[c]) > 1 for c in cid])

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    print(
        f"CDNOW master through the product: {len(rows):,} customers as of {TODAY}; "
        f"{int(quiet.sum()):,} ({quiet.mean():.1%}) made no purchase in the next "
        f"{HOLDOUT_WEEKS} weeks, {quiet90.mean():.1%} none in the next 90 days.\n"
    )
    print("```\n" + recompute_out.strip() + "\n" + tasks_out.strip() + "\n```\n")
    print("| score for no purchase in 39 weeks | AUC | repeat buyers | one-time buyers | PR-AUC |")
    print("|---|---|---|---|---|")
    figures: dict[str, object] = {}
    for name, score in (
        ("churn_probability (stored)", p),
        ("days since last purchase", recency),
        (
            "stage (active/new < silent < churn_risk < lost)",
            np.array([RANK.get(s, 0) for s in stage], float),
        ),
    ):
        a = auc(score, quiet)
        figures[name] = a
        print(
            f"| {name} | {f(a)} | {f(auc(score[repeat], quiet[repeat]))} | "
            f"{f(auc(score[~repeat], quiet[~repeat]))} | {f(pr_auc(score, quiet))} |"
        )
    rule = recency > 90
    flags = np.isin(stage, ["churn_risk", "lost"])
    print(
        "\n| at equal recall | recall | precision of the rule | precision of churn_probability | of recency |"
    )
    print("|---|---|---|---|---|")
    for name, pred in (("90-day rule", rule), ("stage churn_risk or lost", flags)):
        tp = int((pred & quiet).sum())
        rec, prec = tp / quiet.sum(), tp / max(int(pred.sum()), 1)
        print(
            f"| {name} | {rec:.3f} | {prec:.3f} | {precision_at_recall(p, quiet, rec):.3f} | "
            f"{precision_at_recall(recency, quiet, rec):.3f} |"
        )
    print("\n| stage | customers | stayed away 39 weeks | 90 days |")
    print("|---|---|---|---|")
    for s in ("active", "silent", "churn_risk", "lost"):
        m = stage == s
        if m.any():
            print(f"| {s} | {int(m.sum()):,} | {quiet[m].mean():.1%} | {quiet90[m].mean():.1%} |")
    print("\nCalibration of churn_probability (90 days) against the real next 90 days:\n")
    print("| decile | predicted | observed |")
    print("|---|---|---|")
    for i, row in enumerate(calibration_table(p, quiet90), start=1):
        print(f"| {i} | {row['predicted']:.3f} | {row['observed']:.3f} |")
    day1 = float(value[tasked & quiet].sum())
    print(
        f"\nDay-1 lists ({GUIDES} guides × 20): {int(tasked.sum())} customers, "
        f"{quiet[tasked].mean():.1%} truly stayed away 39 weeks; their yearly value "
        f"${day1:,.0f}."
    )
    print("\n`scrm model report`:\n\n```\n" + model_report.strip() + "\n```")
    figures |= {"day1_value": day1, "tasked": int(tasked.sum())}
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps({"bench": "cdnow", **figures}) + "\n")


if __name__ == "__main__":
    main()
