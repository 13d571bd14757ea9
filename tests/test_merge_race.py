"""Merges racing with orders on PostgreSQL, through two real ``scrm serve`` replicas.

Thirty pairs of customers (one known by phone, one by member number) are merged by a customer
row naming both, while orders for both keep arriving at the other replica. Nothing may be lost:
every survivor's stats count every order of the pair, and no order stays on a merged customer.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Customer, CustomerStats, Order

TOKEN = "race-token-0123456789abcdef"
PAIRS = 30
ORDERS_EACH = 3  # per customer of a pair, sent while the merge runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "SCRM_DATABASE_URL": database_url,
        "SCRM_API_TOKENS": f"{TOKEN}:intake+read",
        "SCRM_SCHEDULER": "false",
        "SCRM_OUTBOX_WORKER": "false",
        "SCRM_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port), "--no-migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_up(proc: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "died")
        assert time.monotonic() < deadline, "scrm serve did not come up in 60 s"
        time.sleep(0.2)


@pytest.fixture
def replicas(database_url: str, db: Database) -> Iterator[list[httpx.Client]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the race needs PostgreSQL (SQLite serialises every writer)")
    procs = [_serve(database_url) for _ in range(2)]
    clients: list[httpx.Client] = []
    try:
        for proc, base in procs:
            _wait_up(proc, base)
            clients.append(
                httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
                )
            )
        yield clients
    finally:
        for c in clients:
            c.close()
        for proc, _ in procs:
            proc.terminate()
        for proc, _ in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _post(client: httpx.Client, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    r = client.post(f"/api/v1/{kind}", json=rows)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["rejected"] == 0, body
    return body


def _phone(i: int) -> str:
    return f"1390000{i:04d}"


def _order(no: str, i: int, by: str, day: int) -> dict[str, Any]:
    ident = {"phone": _phone(i)} if by == "phone" else {"member_no": f"VIP{i:04d}"}
    return {"order_no": no, **ident, "ordered_at": f"2026-10-{day:02d} 12:00", "paid_cents": 1000}


def test_merges_racing_with_orders_lose_nothing(replicas: list[httpx.Client], db: Database) -> None:
    one, two = replicas
    _post(one, "customers", [{"name": f"甲{i}", "phone": _phone(i)} for i in range(PAIRS)])
    _post(two, "customers", [{"name": f"乙{i}", "member_no": f"VIP{i:04d}"} for i in range(PAIRS)])
    # One order each before the race, so the stats already exist and must be carried over.
    _post(one, "orders", [_order(f"P{i}-0", i, "phone", 1) for i in range(PAIRS)])
    _post(two, "orders", [_order(f"M{i}-0", i, "member", 1) for i in range(PAIRS)])

    jobs: list[tuple[httpx.Client, str, list[dict[str, Any]]]] = []
    for i in range(PAIRS):
        merge = {"phone": _phone(i), "member_no": f"VIP{i:04d}"}
        jobs.append((random.choice(replicas), "customers", [merge]))
        for k in range(1, ORDERS_EACH + 1):
            # Later days take the fast (delta) path of the stats, earlier ones the recompute.
            jobs.append((one, "orders", [_order(f"P{i}-{k}", i, "phone", 1 + k * 2)]))
            jobs.append((two, "orders", [_order(f"M{i}-{k}", i, "member", 2 + k * 2)]))
    random.Random(12).shuffle(jobs)
    with ThreadPoolExecutor(max_workers=16) as pool:
        for body in pool.map(lambda job: _post(*job), jobs):
            assert body["accepted"] == 1

    expected = 2 * (ORDERS_EACH + 1)
    wrong: list[str] = []
    for i in range(PAIRS):
        by_phone = one.get("/api/v1/customers", params={"kind": "phone", "value": _phone(i)})
        by_member = two.get(
            "/api/v1/customers", params={"kind": "member_no", "value": f"VIP{i:04d}"}
        )
        a, b = by_phone.json(), by_member.json()
        assert a["id"] == b["id"], f"pair {i} is still two customers"
        count = (a["stats"] or {}).get("order_count")
        if count != expected:
            wrong.append(f"pair {i}: {count} orders counted, {expected} sent")
    with db.session() as s:
        on_merged = s.scalar(
            select(func.count())
            .select_from(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Customer.merged_into.is_not(None))
        )
        stats_of_merged = s.scalar(
            select(func.count())
            .select_from(CustomerStats)
            .join(Customer, Customer.id == CustomerStats.customer_id)
            .where(Customer.merged_into.is_not(None))
        )
        total = s.scalar(select(func.count()).select_from(Order))
    assert total == PAIRS * expected
    assert not wrong, f"{len(wrong)} of {PAIRS} survivors miscounted: {wrong[:5]}"
    assert on_merged == 0, f"{on_merged} orders left on merged customers"
    assert stats_of_merged == 0
