"""File import (CSV or JSONL) in committed chunks, resumable after a crash.

Each chunk is written in one unit of work together with the checkpoint (``import_runs``):
after a crash the store holds whole chunks only, and a re-run of the same file skips the
rows already committed. Intake writes are idempotent anyway (order number, identity, code),
so even a re-run without the checkpoint would double nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.intake.kinds import ingest
from storage.base import utcnow
from storage.db import Database
from storage.models import ImportRun


@dataclass
class ImportReport:
    kind: str
    file: Path
    rows: int = 0
    resumed_from: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_file: Path | None = None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, row) for every data row. Blank lines are skipped."""
    if path.suffix.lower() in {".jsonl", ".ndjson", ".json"}:
        with path.open(encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, _BadLine(f"not valid JSON: {exc.msg} at column {exc.colno}")
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            if None in row:
                yield (
                    reader.line_num,
                    _BadLine(f"{len(row[None])} more cells than the header has columns"),
                )
                continue
            yield reader.line_num, row


@dataclass
class _BadLine:
    reason: str


def count_rows(path: Path) -> int:
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return lines - (0 if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else 1)


def import_file(
    db: Database,
    kind: str,
    path: Path,
    *,
    tz: tzinfo,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    crash_after_chunks: int | None = None,
    task_days: int | None = None,
) -> ImportReport:
    """Import ``path``; ``crash_after_chunks`` exists for the crash test only."""
    digest = sha256(path)
    report = ImportReport(kind, path)
    with db.uow() as uow:
        run = uow.session.scalar(
            select(ImportRun).where(ImportRun.kind == kind, ImportRun.file_sha256 == digest)
        )
        if run is None:
            run = ImportRun(kind=kind, file_name=str(path)[:500], file_sha256=digest)
            uow.session.add(run)
            uow.commit()
        run_id, skip = run.id, run.rows_done
    report.resumed_from = skip
    if progress and skip:
        progress(skip)

    chunk: list[tuple[int, Any]] = []
    seen = 0
    chunks_done = 0

    def flush() -> None:
        nonlocal chunks_done
        good = [(n, r) for n, r in chunk if not isinstance(r, _BadLine)]
        with db.uow() as uow:
            result = ingest(uow.session, kind, [r for _, r in good], tz=tz, task_days=task_days)
            run = uow.session.get(ImportRun, run_id)
            assert run is not None
            run.rows_done = seen
            run.accepted += result.summary()["accepted"]
            run.rejected += result.count("rejected") + (len(chunk) - len(good))
            uow.commit()
        for n, r in chunk:
            if isinstance(r, _BadLine):
                report.errors.append({"line": n, "field": "row", "reason": r.reason, "row": ""})
        for (n, raw), res in zip(good, result.results, strict=True):
            if res.status == "rejected":
                for err in res.errors:
                    report.errors.append(
                        {"line": n, **err, "row": json.dumps(raw, ensure_ascii=False)}
                    )
            setattr(report, res.status, getattr(report, res.status) + 1)
        report.rows += len(chunk)
        if progress:
            progress(len(chunk))
        chunk.clear()
        chunks_done += 1
        if crash_after_chunks is not None and chunks_done >= crash_after_chunks:
            raise SimulatedCrash(f"crashed after {chunks_done} chunks")

    for lineno, row in read_rows(path):
        seen += 1
        if seen <= skip:
            continue
        chunk.append((lineno, row))
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    with db.uow() as uow:
        run = uow.session.get(ImportRun, run_id)
        assert run is not None
        run.rows_done, run.status, run.finished_at = seen, "done", utcnow()
        uow.commit()
    return report


def write_error_report(report: ImportReport, target: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["line", "field", "reason", "row"])
    writer.writeheader()
    writer.writerows(report.errors)
    target.write_text(buf.getvalue(), encoding="utf-8")
    report.error_file = target


class SimulatedCrash(RuntimeError):
    pass
