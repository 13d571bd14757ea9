"""Slack slash-command latency over loopback HTTP against ``scrm serve`` on PostgreSQL.

    python benchmarks/bench_slack.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_slack_bench \
        --data benchmarks/data/medium --orders 100000 [--reuse] [--n 300] [--json benchmarks/results.jsonl]

Load (skipped with --reuse): a fresh database, then stores, staff, campaigns, customers and
the first ``--orders`` orders through ``scrm import``. A manager and a guide get Slack ids.
A fake Slack Web API (tests/fakes/slack.py) answers the app's calls; ``scrm serve`` runs as
a subprocess with Slack pointed at it and the outbox worker and scheduler off.

Measure, each as signed ``POST /slack/events`` requests over loopback, one at a time:
- ``/customer PHONE`` as the guide (a customer they follow): the ack carries the answer;
- ``/kpi CAMPAIGN [period]`` as the manager: the ack (the answer itself when it takes under
  2 s, "working on it" otherwise; the chart upload follows after the ack);
- the same requests with a wrong signature: 401 before any listener runs. PostgreSQL's
  transaction counters for the database (``pg_stat_database``) are read before and after
  this phase, to show the rejection path never touches the store.
Targets: /customer ack p99 <= 100 ms, /kpi ack p99 <= 300 ms, rejection >= 5x faster.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from benchmarks.common import (
    free_port,
    fresh_database,
    machine,
    save,
    scrm_bin,
    scrm_env,
    timed_scrm,
)
from tests.fakes.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, command_body, signed_headers

FORM = "application/x-www-form-urlencoded"
MANAGER, GUIDE = "UBENCHMGR1", "UBENCHGDE1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(url: str, data: Path, orders: int) -> dict[str, Any]:
    from benchmarks.common import head

    fresh_database(url)
    env = scrm_env(url)
    out: dict[str, Any] = {"upgrade": timed_scrm(["db", "upgrade"], env)}
    for kind, name in [("stores", "stores.csv"), ("staff", "staff.jsonl"),
                       ("campaigns", "campaigns.jsonl"), ("customers", "customers.jsonl")]:  # fmt: skip
        out[kind] = timed_scrm(["import", kind, str(data / name)], env)
        print(f"  {kind}: {out[kind]['seconds']:.1f}s", file=sys.stderr)
    out["orders"] = timed_scrm(["import", "orders", str(head(data / "orders.jsonl", orders))], env)
    print(f"  orders: {out['orders']['seconds']:.1f}s", file=sys.stderr)
    return out


def pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def prepare(url: str, rng: random.Random) -> tuple[list[str], list[str]]:
    """Link a manager and a guide to Slack ids; phones the guide follows; campaign codes."""
    with psycopg.connect(pg(url), autocommit=True) as conn:
        conn.execute("UPDATE staff SET slack_user_id = NULL WHERE slack_user_id LIKE 'UBENCH%%'")
        guide = conn.execute(
            "SELECT s.id, s.store_id FROM staff s JOIN customers c ON c.guide_id = s.id "
            "WHERE s.role = 'guide' GROUP BY s.id, s.store_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        assert guide, "no guide follows any customer: load the data first"
        conn.execute("UPDATE staff SET slack_user_id = %s WHERE id = %s", (GUIDE, guide[0]))
        conn.execute(
            "UPDATE staff SET slack_user_id = %s WHERE id = (SELECT id FROM staff WHERE "
            "role = 'manager' AND store_id = %s ORDER BY id LIMIT 1)",
            (MANAGER, guide[1]),
        )
        phones = [r[0] for r in conn.execute(
            "SELECT phone FROM customers WHERE guide_id = %s AND phone IS NOT NULL "
            "AND merged_into IS NULL LIMIT 500", (guide[0],))]  # fmt: skip
        codes = [r[0] for r in conn.execute("SELECT code FROM campaigns ORDER BY starts_at")]
    rng.shuffle(phones)
    return phones, codes


# Until ``kpi`` is in the command registry, serve the same app with it added (uvicorn on
# create_app, the Slack mount given the extended command list); otherwise `scrm serve`.
_WITH_KPI = """
import uvicorn
from bot.app import create_app
from bot.commands import REGISTRY
from bot.commands import campaigns, kpi
from bot.settings import Settings
from integrations.slack.wiring import mount

settings = Settings()
app = create_app(settings.model_copy(update={"slack_bot_token": None}))
extra = [kpi.COMMAND, campaigns.COMMAND]
senders = mount(app, settings, commands=[c for c in REGISTRY if c.name not in ("kpi", "campaigns")] + extra)
uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning")
"""


def server_command(port: int) -> list[str]:
    from bot.commands import REGISTRY

    if any(c.name == "kpi" for c in REGISTRY):
        return [scrm_bin(), "serve", "--port", str(port), "--no-migrate"]
    print("kpi is not in the registry yet: serving create_app with it added", file=sys.stderr)
    return [sys.executable, "-c", _WITH_KPI.replace("PORT", str(port))]


def xacts(url: str) -> int:
    with psycopg.connect(pg(url), dbname="postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (pg(url).rsplit("/", 1)[1],),
        ).fetchone()
        return int(row[0]) if row else -1


def timed(client: httpx.Client, body: str, headers: dict[str, str]) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.post("/slack/events", content=body.encode(), headers=headers)
    return (time.perf_counter() - started) * 1000, response


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/scrm_slack_bench"
    )
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data/medium"))
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = random.Random(7)
    url = args.database_url
    setup = None if args.reuse else load(url, args.data, args.orders)
    phones, codes = prepare(url, rng)
    fake = FakeSlack().start()
    port = free_port()
    env = scrm_env(url) | {
        "SCRM_SLACK_BOT_TOKEN": BOT_TOKEN,
        "SCRM_SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SCRM_SLACK_API_BASE": fake.api_base,
        "SCRM_OUTBOX_WORKER": "false",
        # The in-process scheduler polls its job store; off, so that any transaction seen
        # during the rejected phase would be the requests' own.
        "SCRM_SCHEDULER": "false",
    }
    server = subprocess.Popen(
        server_command(port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            result = run(client, fake, url, phones, codes, args.n)
    finally:
        server.terminate()
        server.wait(10)
        fake.stop()
    result |= {"benchmark": "slack", "orders": args.orders, "setup": setup, "machine": machine()}
    for key in ("customer_ack_ms", "kpi_ack_ms", "rejected_ms"):
        print(f"{key}: p50 {result[key]['p50']:.1f}  p99 {result[key]['p99']:.1f}")
    print(f"rejection speed-up (p50 valid /customer / p50 rejected): {result['speedup']:.1f}x")
    print(
        f"database transactions during the rejected phase: {result['rejected_db_xacts']} "
        f"(quiet control: {result['quiet_db_xacts']}); /kpi slow path: {result['kpi_slow_path']}"
    )
    save(result, args.json)


def run(
    client: httpx.Client, fake: FakeSlack, url: str, phones: list[str], codes: list[str], n: int
) -> dict[str, Any]:
    periods = ["", " period:7d", " period:mtd", " period:yesterday"]
    customer_bodies = [
        command_body("/customer", phones[i % len(phones)], GUIDE, fake.response_url(f"c{i}"))
        for i in range(n)
    ]
    kpi_bodies = [
        command_body("/kpi", codes[-1 - i % min(4, len(codes))] + periods[i % 4], MANAGER,
                     fake.response_url(f"k{i}"))
        for i in range(n)
    ]  # fmt: skip
    for body in customer_bodies[:20] + kpi_bodies[:8]:  # warm-up: pools, caches, fonts
        timed(client, body, signed_headers(body, FORM))
    customer, kpi, slow = [], [], 0
    for body in customer_bodies:
        ms, response = timed(client, body, signed_headers(body, FORM))
        assert response.status_code == 200, response.text
        customer.append(ms)
    for body in kpi_bodies:
        ms, response = timed(client, body, signed_headers(body, FORM))
        assert response.status_code == 200, response.text
        assert "Working on it" in response.text or "section" in response.text, response.text
        assert "I don't know" not in response.text and "不认识" not in response.text
        slow += "Working on it" in response.text
        kpi.append(ms)
    # PostgreSQL 15 backends report their counters at most once a second, and an idle one
    # only after 10 s (PGSTAT_IDLE_INTERVAL): wait that out on both sides, and measure a quiet
    # interval of the same length as a control.
    time.sleep(11)
    quiet = xacts(url)
    time.sleep(11)
    before = xacts(url)
    rejected = []
    for body in customer_bodies + kpi_bodies:
        ms, response = timed(client, body, signed_headers(body, FORM, secret="wrong-secret-123"))
        assert response.status_code == 401
        rejected.append(ms)
    time.sleep(11)
    after = xacts(url)

    def summary(values: list[float]) -> dict[str, float]:
        return {"p50": pct(values, 0.5), "p99": pct(values, 0.99), "n": len(values)}

    return {
        "customer_ack_ms": summary(customer),
        "kpi_ack_ms": summary(kpi),
        "kpi_slow_path": slow,
        "rejected_ms": summary(rejected),
        "speedup": pct(customer, 0.5) / pct(rejected, 0.5),
        "rejected_db_xacts": after - before,
        "quiet_db_xacts": before - quiet,
    }


if __name__ == "__main__":
    main()
