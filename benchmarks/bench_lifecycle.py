"""Lifecycle at scale: full recompute (with the weekly refit and its backtest), the daily
incremental run with 1% of customers changed, task generation for every guide, peak memory;
and the same RFM aggregation in DuckDB over the raw orders as a near-limit reference, with
the ratio of the two (target: the full recompute within 10x of DuckDB, in one run).

    python benchmarks/bench_lifecycle.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_life

The database must hold a loaded store (e.g. the 1M-customer / 10M-order benchmark set).
Each step runs in a fresh subprocess so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STEP = r"""
import sys, time, json, resource
from datetime import datetime, UTC
sys.path.insert(0, {root!r})
from bot.settings import Settings
from storage.db import Database
from bot.lifecycle import recompute
from bot.lifecycle.tasks import generate
url, step, now = {url!r}, {step!r}, datetime.fromisoformat({now!r})
settings = Settings(database_url=url, _env_file=None)
db = Database(url)
t = time.perf_counter()
if step == "full":
    r = recompute.full(db, settings, now, refit=True); out = {{"scored": r.scored, "backtest_s": r.backtest.get("seconds"), "churn_method": r.churn_method}}
elif step == "incremental":
    r = recompute.incremental(db, settings, now); out = {{"scored": r.scored}}
else:
    r = generate(db, settings, now.astimezone(settings.tz).date()); out = {{"created": r.created, "guides": r.guides, "holdout": r.holdout}}
out["seconds"] = round(time.perf_counter() - t, 2)
out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print(json.dumps(out))
"""


def run_step(url: str, step: str, now: datetime) -> dict[str, float]:
    code = STEP.format(root=str(ROOT), url=url, step=step, now=now.isoformat())
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def dirty_one_percent(url: str) -> int:
    from sqlalchemy import text

    from storage.db import Database

    db = Database(url)
    with db.engine.begin() as conn:
        n = conn.execute(
            text("UPDATE customer_stats SET dirty = true WHERE customer_id % 100 = 7")
        ).rowcount
    db.dispose()
    return int(n)


def duckdb_rfm(url: str, now: datetime) -> dict[str, float]:
    """Export the orders once (not timed), then time DuckDB's RFM over all 10M rows."""
    import duckdb

    from storage.db import Database

    path = Path("/tmp/bench_orders.csv")
    db = Database(url)
    raw = db.engine.raw_connection()
    query = "COPY (SELECT customer_id, ordered_at, paid_cents FROM orders) TO STDOUT WITH CSV"
    with path.open("wb") as fh, raw.cursor() as cur, cur.copy(query) as copy:  # type: ignore[attr-defined]
        for block in copy:
            fh.write(block)
    raw.close()
    db.dispose()
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE orders AS SELECT * FROM read_csv('{path}', header=false, "
        "columns={'customer_id':'BIGINT','ordered_at':'TIMESTAMPTZ','paid_cents':'BIGINT'})"
    )
    t = time.perf_counter()
    con.execute(f"""
        SELECT customer_id, ntile(5) OVER (ORDER BY r DESC) r5, ntile(5) OVER (ORDER BY f) f5, ntile(5) OVER (ORDER BY m) m5
        FROM (SELECT customer_id, date_diff('day', max(ordered_at), TIMESTAMPTZ '{now.isoformat()}') r,
                     count(DISTINCT CAST(ordered_at AS DATE)) f, sum(paid_cents) m
              FROM orders GROUP BY customer_id)
    """).fetchall()
    return {
        "seconds": round(time.perf_counter() - t, 2),
        "rows": con.execute("SELECT count(*) FROM orders").fetchone()[0],
    }  # type: ignore[index]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--now", default=None, help="ISO time to score as of (default: now)")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    now = datetime.fromisoformat(args.now) if args.now else datetime.now(UTC)
    results: dict[str, object] = {"now": now.isoformat()}
    results["full"] = run_step(args.database_url, "full", now)
    print("full recompute", results["full"], flush=True)
    results["dirtied"] = dirty_one_percent(args.database_url)
    results["incremental"] = run_step(args.database_url, "incremental", now)
    print(f"incremental ({results['dirtied']} dirtied)", results["incremental"], flush=True)
    results["tasks"] = run_step(args.database_url, "tasks", now)
    print("task generation", results["tasks"], flush=True)
    if not args.skip_duckdb:
        results["duckdb_rfm"] = duckdb_rfm(args.database_url, now)
        print("duckdb rfm", results["duckdb_rfm"], flush=True)
        ratio = results["full"]["seconds"] / results["duckdb_rfm"]["seconds"]  # type: ignore[index]
        results["full_over_duckdb"] = round(ratio, 1)
        print(f"full recompute / DuckDB RFM scan: {ratio:.1f}x (target <= 10x)", flush=True)
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps({"bench": "lifecycle", **results}) + "\n")


if __name__ == "__main__":
    main()
