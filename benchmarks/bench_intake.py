"""HTTP intake: POST orders in batches to ``scrm serve`` and measure throughput and memory.

    python benchmarks/bench_intake.py --database-url postgresql://postgres@127.0.0.1:5432/scrm_bench \
        --data benchmarks/data/medium --orders 200000 --batch 1000 --concurrency 2

Steps: a fresh database with the reference data (stores, staff, campaigns, customers; see
``common.prepared_database``), then ``scrm serve`` on a free loopback port (one uvicorn worker,
as the CLI starts it by default), then ``--concurrency`` client threads, each with its own
keep-alive connection, POST ``/api/v1/orders`` with ``--batch`` rows each. The request bodies
are the file's JSON lines joined into an array, so the client does almost no work; it does
check every response for rejected rows. Figures: orders/s over the whole run and per tenth of
it (does it slow down as the tables grow?), p50/p99 batch latency, and the server's peak RSS
(VmHWM of the server process and any children, read from /proc while it runs).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (
    free_port,
    head,
    machine,
    prepared_database,
    save,
    scrm_bin,
    scrm_env,
    status_kb,
    tree_pids,
)

TOKEN = "bench-token-0123456789abcdef"


def batches(path: Path, size: int) -> Iterator[tuple[int, bytes]]:
    lines: list[bytes] = []
    for line in path.open("rb"):
        lines.append(line.rstrip(b"\n"))
        if len(lines) == size:
            yield len(lines), b"[" + b",".join(lines) + b"]"
            lines = []
    if lines:
        yield len(lines), b"[" + b",".join(lines) + b"]"


class Memory(threading.Thread):
    """Samples the server's process tree: VmHWM per process (kernel-kept peak), summed."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.stop = pid, 0, threading.Event()
        self.rss_kb: list[int] = []

    def sample(self) -> None:
        pids = tree_pids(self.pid)
        self.peak_kb = max(self.peak_kb, sum(status_kb(p, "VmHWM") for p in pids))
        self.rss_kb.append(sum(status_kb(p, "VmRSS") for p in pids))

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    log = open(f"/tmp/scrm-bench-serve-{port}.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [scrm_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"scrm serve exited with {proc.returncode}; see {log.name}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"scrm serve did not answer /healthz within 60 s; see {log.name}")


def post_all(port: int, path: Path, size: int, concurrency: int) -> dict[str, object]:
    work: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=concurrency * 2)
    done: list[tuple[float, float, int, int]] = []  # (finished at, latency, rows, created)
    problems: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=300
        ) as http:
            while (item := work.get()) is not None:
                rows, body = item
                t0 = time.perf_counter()
                resp = http.post("/api/v1/orders", content=body)
                t1 = time.perf_counter()
                created = 0
                if resp.status_code == 200:
                    outcome = resp.json()
                    created = outcome["created"]
                    if outcome["rejected"] and len(problems) < 5:
                        bad = next(r for r in outcome["results"] if r["status"] == "rejected")
                        problems.append(json.dumps(bad, ensure_ascii=False))
                elif len(problems) < 5:
                    problems.append(f"HTTP {resp.status_code}: {resp.text[:300]}")
                with lock:
                    done.append((t1, t1 - t0, rows, created))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for item in batches(path, size):
        work.put(item)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    done.sort()
    latencies = sorted(d[1] for d in done)
    rows = sum(d[2] for d in done)
    created = sum(d[3] for d in done)
    tenths = []
    step = max(1, len(done) // 10)
    prev_t = started
    for i in range(0, len(done), step):
        part = done[i : i + step]
        tenths.append(round(sum(d[2] for d in part) / (part[-1][0] - prev_t)))
        prev_t = part[-1][0]
    return {
        "rows": rows,
        "created": created,
        "seconds": wall,
        "orders_per_s": rows / wall,
        "orders_per_s_by_tenth": tenths,
        "batches": len(done),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--data", type=Path, default=Path("benchmarks/data/small"))
    ap.add_argument("--orders", type=int, default=None, help="send only the first N orders")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=2, help="client connections")
    ap.add_argument("--json", type=Path, default=None, help="append the result to this JSONL file")
    args = ap.parse_args(argv)

    env = scrm_env(args.database_url, f"{TOKEN}:admin")
    orders_file = head(args.data / "orders.jsonl", args.orders)
    result: dict[str, object] = {
        "bench": "intake",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.database_url.split(":", 1)[0],
        "data": str(args.data),
        "batch": args.batch,
        "concurrency": args.concurrency,
        "server": "scrm serve, 1 uvicorn worker",
        "machine": machine(),
        "setup": prepared_database(args.database_url, args.data, env),
    }
    port = free_port()
    server = start_server(env, port)
    memory = Memory(server.pid)
    try:
        memory.sample()
        idle_mb = memory.rss_kb[-1] / 1024
        memory.start()
        print(f"posting {orders_file.name} to port {port} ...", file=sys.stderr)
        run = post_all(port, orders_file, args.batch, args.concurrency)
        memory.sample()
    finally:
        memory.stop.set()
        server.terminate()
        server.wait(30)
    run["server_idle_rss_mb"] = idle_mb
    run["server_peak_rss_mb"] = memory.peak_kb / 1024
    result["intake"] = run
    print(
        f"  {run['orders_per_s']:,.0f} orders/s, p50 {run['p50_ms']:.0f} ms, "
        f"p99 {run['p99_ms']:.0f} ms, server peak {run['server_peak_rss_mb']:.0f} MB",
        file=sys.stderr,
    )
    save(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
