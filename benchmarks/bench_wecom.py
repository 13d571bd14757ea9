"""Encrypted WeCom callbacks over loopback HTTP against ``scrm serve``: rate, latency, and
exactly-once effects, optionally with a faulty WeCom API.

    python benchmarks/bench_wecom.py --database-url sqlite:////tmp/scrm_wecom_bench.db
    python benchmarks/bench_wecom.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_wecom_bench
    python benchmarks/bench_wecom.py --database-url ... --seconds 20 --rate 100 --fault-rate 0.3

The database is emptied first (never the test or postgres databases). ``scrm serve`` runs on
a free port with its outbox pump, pointed at the fake WeCom API (tests/fakes/wecom.py) in
this process. The load is open-loop at ``--rate`` callbacks per second, encrypted with
wechatpy's real crypto before the clock starts: 60% ``add_external_contact`` (each a new
contact: the pump calls ``externalcontact/get`` and creates a customer and a relation), 40%
guide text messages (the pump runs the command and sends the reply with ``message/send``),
and on top of that every tenth callback is delivered a second time, as WeCom does when it
thinks we were slow. Afterwards it waits for the outbox to drain and checks the store: one
inbox row and one processed event per unique callback, one customer per new contact, one
delivered reply per message, nothing dead, nothing twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select

from benchmarks.common import (
    code_version,
    free_port,
    fresh_database,
    machine,
    save,
    scrm_bin,
    scrm_env,
)
from integrations.wecom.sender import dup_interval
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Customer, InboxEvent, OutboxMessage, Staff, Store
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import server_env

GUIDES = 20


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def seed(url: str) -> None:
    upgrade(url)
    db = Database(url)
    with db.uow() as uow:
        store = Store(code="S1", name="Bench store")
        uow.session.add(store)
        uow.session.flush()
        for i in range(GUIDES):
            uow.session.add(
                Staff(
                    code=f"G{i:03d}", name=f"导购{i}", store_id=store.id, wecom_userid=f"g{i:03d}"
                )
            )
        uow.commit()
    db.dispose()


def workload(n: int) -> tuple[list[tuple[dict[str, str], bytes]], int, int]:
    """Encrypted callbacks, with every tenth repeated later; (requests, contacts, messages)."""
    now = int(time.time())
    unique: list[tuple[dict[str, str], bytes]] = []
    contacts = messages = 0
    for i in range(n):
        guide = f"g{i % GUIDES:03d}"
        if i % 5 < 3:
            xml = F.contact_xml("add_external_contact", guide, f"wmB{i:07d}", created=now)
            contacts += 1
        else:
            xml = F.text_xml(guide, "任务", 10_000_000 + i, created=now)
            messages += 1
        params, body = F.encrypt(xml, nonce=f"n{i}")
        unique.append((params, body.encode()))
    out: list[tuple[dict[str, str], bytes]] = []
    for i, item in enumerate(unique):
        out.append(item)
        if i % 10 == 9:
            params, body = unique[i - 5]
            out.append((params, body))
    return out, contacts, messages


async def fire(
    base: str, requests: list[tuple[dict[str, str], bytes]], rate: float, concurrency: int
) -> tuple[list[float], dict[int, int], float]:
    # aiohttp rather than httpx: httpx's async client tops out near 250 requests/s of
    # client CPU on this machine, which would measure the client, not the server.
    import aiohttp

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[tuple[float, dict[str, str], bytes] | None] = asyncio.Queue()
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                due, params, body = job
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    async with client.post(
                        base + "/wecom/callback", params=params, data=body
                    ) as response:
                        await response.read()
                        code = response.status
                except (aiohttp.ClientError, TimeoutError):
                    code = 0
                # Latency counts from when the request was due (open-loop load): a server
                # falling behind shows up as latency, not as a silently lower rate.
                latencies.append(time.perf_counter() - due)
                statuses[code] = statuses.get(code, 0) + 1

        t0 = time.perf_counter() + 0.5
        for i, (params, body) in enumerate(requests):
            queue.put_nowait((t0 + i / rate, params, body))
        for _ in range(concurrency):
            queue.put_nowait(None)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return latencies, statuses, elapsed


def wait_for_drain(db: Database, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        with db.session() as s:
            left = s.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status == "pending")
            )
        if not left:
            return time.perf_counter() - start
        time.sleep(1)
    raise SystemExit(f"outbox still has pending rows after {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=300)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--fault-rate", type=float, default=0.0)
    ap.add_argument("--drain-timeout", type=float, default=900)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    url = fresh_database(args.database_url)
    seed(url)
    fake = F.FakeWecom().start()
    fake.members |= {f"g{i:03d}" for i in range(GUIDES)}
    n = int(args.seconds * args.rate / 1.1)  # the repeats bring it back to seconds * rate
    requests, contacts, messages = workload(n)
    for i in range(n):
        if i % 5 < 3:
            fake.add_contact(f"g{i % GUIDES:03d}", f"wmB{i:07d}", f"客户{i}", unionid=f"oB{i}")
    fake.faults = F.Faults(rate=args.fault_rate)

    import subprocess

    port = free_port()
    env = scrm_env(url) | server_env(fake)
    env.update(
        SCRM_QUIET_START="00:00",
        SCRM_QUIET_END="00:00",
    )
    log = open(f"/tmp/scrm-bench-wecom-{port}.log", "wb")  # noqa: SIM115
    server = subprocess.Popen(
        [scrm_bin(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        latencies, statuses, elapsed = asyncio.run(
            fire(f"http://127.0.0.1:{port}", requests, args.rate, args.concurrency)
        )
        print(
            f"fired {len(requests)} in {elapsed:.1f} s: p50 {pct(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {pct(latencies, 0.99) * 1000:.0f} ms; draining the outbox …",
            file=sys.stderr,
        )
        db = Database(url)
        drain = wait_for_drain(db, args.drain_timeout)
    finally:
        server.terminate()
        server.wait(30)
    with db.session() as s:
        inbox = s.scalar(select(func.count()).select_from(InboxEvent))
        by_status = {
            f"{kind}:{status}": count
            for kind, status, count in s.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.kind, OutboxMessage.status
                )
            )
        }
        customers = s.scalar(select(func.count()).select_from(Customer))
        sent_messages = [
            (row.target, json.dumps(row.payload, sort_keys=True), dup_interval(row.idempotency_key))
            for row in s.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.kind == "message", OutboxMessage.status == "sent"
                )
            )
        ]
        retried = s.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.attempts > 1)
        )
    db.dispose()
    replies = len(fake.delivered)
    texts = [json.dumps(m, sort_keys=True) for m in fake.delivered]
    # Two different replies with the same text to one guide share a duplicate-check
    # interval once in 12 600 pairs, and WeCom (the fake) then drops the second on purpose;
    # every other sent row must be delivered exactly once.
    expected = len(set(sent_messages))
    checks = {
        "all 200": set(statuses) == {200},
        "one inbox row per unique callback": inbox == n,
        "every event processed once": by_status.get("inbound:sent") == n,
        "one customer per new contact": customers == contacts,
        "one reply row per message": by_status.get("message:sent") == messages,
        "every reply delivered once": replies == expected and len(set(texts)) == len(texts),
        "nothing dead": not any(k.endswith(":dead") for k in by_status),
    }
    fake.stop()
    result: dict[str, object] = {
        "bench": "wecom",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if url.startswith("postgresql") else "sqlite",
        "server": "scrm serve, 1 uvicorn worker, outbox pump in-process",
        "machine": {**machine(), "code": code_version()},
        "target_rate": args.rate,
        "fault_rate": args.fault_rate,
        "requests": len(requests),
        "unique_callbacks": n,
        "achieved_rate": round(len(requests) / elapsed, 1),
        "seconds": round(elapsed, 1),
        "p50_ms": round(pct(latencies, 0.50) * 1000, 1),
        "p99_ms": round(pct(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "statuses": statuses,
        "drain_seconds": round(drain, 1),
        "outbox": by_status,
        "api_calls": len(fake.calls),
        "pushes_retried": retried,
        "duplicates_suppressed_by_wecom": fake.duplicates,
        "same_text_interval_collisions": len(sent_messages) - expected,
        "checks": checks,
    }
    save(result, args.json)
    if not all(checks.values()):
        raise SystemExit("a check failed: " + ", ".join(k for k, ok in checks.items() if not ok))


if __name__ == "__main__":
    main()
