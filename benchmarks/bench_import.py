"""Time ``scrm import orders FILE`` on a fresh database that already holds the reference data.

    python benchmarks/bench_import.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_bench \
        --data benchmarks/data/full --orders 1000000

Steps: empty the database, ``scrm db upgrade``, import stores, staff, campaigns and customers
(timed too), then import the first ``--orders`` orders (all when omitted) and, with
``--refunds``, the refunds of those orders. Each import is a separate ``scrm`` process run
under ``/usr/bin/time -v`` for its peak RSS. The wall time of the orders import includes what
the command does besides writing (reading the file twice, for the row count and the sha256
checkpoint key).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import head, machine, prepared_database, save, scrm_env, timed_scrm


def refunds_for(data: Path, orders_file: Path, n: int | None) -> Path:
    """Refunds of the first ``n`` orders only (the orders file is chronological by order_no)."""
    src = data / "refunds.jsonl"
    if n is None:
        return src
    last = ""
    with orders_file.open("rb") as fh:
        for line in fh:
            last = line
    last_no = json.loads(last)["order_no"]
    target = data / f"refunds.head{n}.jsonl"
    if not target.exists():
        with src.open(encoding="utf-8") as fin, target.open("w", encoding="utf-8") as fout:
            for line in fin:
                if json.loads(line)["order_no"][10:] <= last_no[10:]:  # SO + yyyymmdd + sequence
                    fout.write(line)
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data/small"))
    ap.add_argument("--orders", type=int, default=None, help="import only the first N orders")
    ap.add_argument(
        "--chunk", type=int, default=2000, help="rows per committed chunk (scrm default)"
    )
    ap.add_argument("--refunds", action="store_true", help="import the refunds afterwards")
    ap.add_argument("--json", type=Path, default=None, help="append the result to this JSONL file")
    args = ap.parse_args(argv)

    env = scrm_env(args.database_url)
    orders_file = head(args.data / "orders.jsonl", args.orders)
    n_orders = sum(1 for _ in orders_file.open("rb"))
    result: dict[str, object] = {
        "bench": "import",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.database_url.split(":", 1)[0],
        "data": str(args.data),
        "orders": n_orders,
        "chunk": args.chunk,
        "machine": machine(),
    }
    result["setup"] = prepared_database(args.database_url, args.data, env)
    print(f"importing {n_orders:,} orders ...", file=sys.stderr)
    run = timed_scrm(["import", "orders", str(orders_file), "--chunk", str(args.chunk)], env)
    run["orders_per_s"] = n_orders / run["seconds"]
    result["import_orders"] = run
    print(
        f"  {run['orders_per_s']:,.0f} orders/s, peak {run['peak_rss_mb']:.0f} MB", file=sys.stderr
    )
    if args.refunds:
        refunds = refunds_for(args.data, orders_file, args.orders)
        n_refunds = sum(1 for _ in refunds.open("rb"))
        rr = timed_scrm(["import", "refunds", str(refunds), "--chunk", str(args.chunk)], env)
        rr["refunds"], rr["refunds_per_s"] = n_refunds, n_refunds / rr["seconds"]
        result["import_refunds"] = rr
    save(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
