"""Shared helpers for the benchmarks: a fresh database, the reference data, memory readings."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Databases a benchmark must never drop: the test suite's, and PostgreSQL's own.
PROTECTED = {"test", "postgres", "template0", "template1"}
TIME = "/usr/bin/time"


def scrm_bin() -> str:
    found = shutil.which("scrm") or str(Path(sys.executable).with_name("scrm"))
    if not Path(found).exists():
        raise SystemExit("the scrm command is missing; run `pip install -e .` in the virtualenv")
    return found


def fresh_database(url: str) -> str:
    """Empty the benchmark database named by ``url`` (SQLite file or PostgreSQL database)."""
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return url
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in PROTECTED:
        raise SystemExit(f"refusing to drop database {name!r}; name a benchmark database")
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def _clone(source_url: str, target_url: str) -> None:
    if target_url.startswith("sqlite"):
        src = Path(source_url.split(":///", 1)[1])
        dst = Path(target_url.split(":///", 1)[1])
        fresh_database(target_url)
        shutil.copyfile(src, dst)
        return
    import psycopg

    parts = urlsplit(target_url)
    name, template = parts.path.lstrip("/"), urlsplit(source_url).path.lstrip("/")
    if name in PROTECTED:
        raise SystemExit(f"refusing to drop database {name!r}; name a benchmark database")
    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


def reference_url(url: str) -> str:
    """Where the loaded reference data is kept, to be copied into each fresh benchmark database."""
    if url.startswith("sqlite"):
        return url + ".ref"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path + "_ref"))


def prepared_database(url: str, data: Path, env: dict[str, str]) -> dict[str, object]:
    """A fresh database holding the reference data of ``data``, loaded once and then copied.

    Loading a million customers through ``scrm import`` takes a while; a benchmark of orders
    should not pay it on every run. The copy is a SQLite file copy or a PostgreSQL
    ``CREATE DATABASE ... TEMPLATE``. The marker file records what was loaded, and when.
    """
    ref = reference_url(url)
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    marker = data / f".reference-{kind}-{re.sub(r'[^A-Za-z0-9]+', '_', ref)[-60:]}.json"
    manifest = (data / "manifest.json").read_text(encoding="utf-8")
    setup: dict[str, object] | None = None
    if marker.exists():
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if saved.get("manifest") == manifest:
            setup = saved["setup"]
    if setup is None:
        fresh_database(ref)
        print(f"loading reference data into {ref} ...", file=sys.stderr)
        setup = load_reference(data, scrm_env(ref))
        marker.write_text(json.dumps({"manifest": manifest, "setup": setup}), encoding="utf-8")
    _clone(ref, url)
    return setup


def scrm_env(url: str, token: str = "bench-token-0123456789abcdef:admin") -> dict[str, str]:
    env = dict(os.environ)
    env.update(SCRM_DATABASE_URL=url, SCRM_API_TOKENS=token, SCRM_LOG_LEVEL="WARNING")
    env.setdefault("SCRM_TIMEZONE", "Asia/Shanghai")
    return env


def timed_scrm(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``scrm ARGS`` under /usr/bin/time -v; wall seconds and peak RSS (MB) of the process."""
    cmd = [scrm_bin(), *args]
    use_time = Path(TIME).exists()
    if use_time:
        cmd = [TIME, "-v", *cmd]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"scrm {' '.join(args)} failed with exit code {proc.returncode}")
    if use_time:
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    else:  # pragma: no cover - the fallback when GNU time is missing
        import resource

        kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    summary = [line for line in proc.stdout.splitlines() if "created" in line]
    return {"seconds": wall, "peak_rss_mb": kb / 1024, "summary": summary[-1] if summary else ""}  # type: ignore[dict-item]


def load_reference(data: Path, env: dict[str, str], *, customers: bool = True) -> dict[str, object]:
    """Schema, then stores, staff, campaigns (and customers): what orders refer to."""
    out: dict[str, object] = {"upgrade": timed_scrm(["db", "upgrade"], env)}
    kinds = [("stores", "stores.csv"), ("staff", "staff.jsonl"), ("campaigns", "campaigns.jsonl")]
    if customers:
        kinds.append(("customers", "customers.jsonl"))
    for kind, name in kinds:
        out[kind] = timed_scrm(["import", kind, str(data / name)], env)
        print(
            f"  loaded {kind}: {out[kind]['seconds']:.1f}s {out[kind]['summary']}", file=sys.stderr
        )  # type: ignore[index]
    return out


def head(path: Path, n: int | None) -> Path:
    """The first ``n`` lines of a JSONL file as their own file (cached next to it)."""
    if n is None:
        return path
    target = path.with_name(f"{path.stem}.head{n}{path.suffix}")
    if not target.exists():
        tmp = target.with_suffix(".part")
        with path.open("rb") as src, tmp.open("wb") as dst:
            dst.writelines(islice(src, n))
        tmp.rename(target)
    return target


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc/PID/task/*/children."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the process may exit while we look
                todo.extend(int(c) for c in task.read_text().split())
    return pids


def status_kb(pid: int, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = status_line("/proc/meminfo", "MemTotal")
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram_gb": f"{mem_kb / 1024 / 1024:.1f}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "code": code_version(),
    }
    try:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
            info["postgresql"] = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    except Exception:  # PostgreSQL is optional for a SQLite run
        info["postgresql"] = "n/a"
    return info


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it (it changes under us)."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "bot", "storage"],
            cwd=root,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def status_line(path: str, field: str) -> int:
    for line in Path(path).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def save(result: dict[str, object], path: Path | None) -> None:
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(result, ensure_ascii=False) + "\n")
