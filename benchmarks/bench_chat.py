"""In-process dispatch latency of `profile`, `find` and `tag` on a loaded store.

    python benchmarks/bench_chat.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_bench [--n 400]

Queries are drawn from the store itself (random customers of random guides): full phone,
last 4 digits, name, pinyin initials; `tag` alternates add and re-add (idempotent). Each
sample is one Dispatcher.handle() call: actor lookup, parse, the queries, audit write, commit.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, Staff, TagGroup


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = Settings(database_url=args.database_url, _env_file=None)  # type: ignore[call-arg]
    db = Database(args.database_url)
    rng = random.Random(args.seed)
    with db.uow() as uow:
        s = uow.session
        if s.scalar(select(TagGroup.id).where(TagGroup.name == "偏好")) is None:
            s.add(TagGroup(name="偏好", open=True))
            uow.commit()
    with db.session() as s:
        n_customers = s.scalar(select(func.count()).select_from(Customer)) or 0
        max_id = s.scalar(select(func.max(Customer.id))) or 0
        guides = s.execute(select(Staff.id, Staff.code).where(Staff.role == "guide")).all()
        samples = []
        while len(samples) < args.n:
            cid = rng.randint(1, max_id)
            row = s.execute(
                select(
                    Customer.name, Customer.phone, Customer.name_initials, Customer.guide_id
                ).where(Customer.id == cid, Customer.merged_into.is_(None))
            ).first()
            if row and row.guide_id:
                code = next((c for g, c in guides if g == row.guide_id), None)
                if code:
                    samples.append((code, cid, row))
    dispatcher = Dispatcher(db, settings)
    results: dict[str, list[float]] = {"profile": [], "find": [], "tag": []}
    for i, (code, cid, row) in enumerate(samples):
        queries = {
            "profile": f"profile #{cid}",
            "find": [
                "find " + (row.phone or ""),
                "find " + (row.phone or "")[-4:],
                f"find {row.name}",
                f"find {row.name_initials}",
            ][i % 4],
            "tag": f"tag #{cid} 偏好:红色",
        }
        for name, text in queries.items():
            start = time.perf_counter()
            reply = dispatcher.handle(IncomingMessage(Channel.CONSOLE, code, text))
            results[name].append((time.perf_counter() - start) * 1000)
            assert reply.kind != "error" or "出错" not in reply.text, reply.text
    out = {"database": db.dialect, "customers": n_customers, "samples": args.n}
    print(f"{db.dialect}: {n_customers:,} customers, {args.n} samples per command")
    print("| command | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in results.items():
        p50, p99 = statistics.median(values), pct(values, 0.99)
        out[name] = {
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(max(values), 2),
        }
        print(f"| {name} | {p50:.1f} | {p99:.1f} | {max(values):.1f} |")
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps({"bench": "chat", **out}) + "\n")


if __name__ == "__main__":
    main()
