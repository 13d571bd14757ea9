"""File import (CSV, .xlsx, JSON Lines or a JSON array) in committed chunks, resumable.

Each chunk is written in one unit of work together with the checkpoint (``import_runs``):
after a crash the store holds whole chunks only, and a re-run of the same file skips the
rows already committed. A run that finished with rejected rows is not a reason to skip
them: a re-run (after adding the missing store, say) reads the file again and the fixed rows
get in, while the rows imported before come back ``unchanged`` (intake writes are idempotent
on order number, identity and code).
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

from bot.intake import readers
from bot.intake.kinds import KINDS, ingest
from bot.intake.readers import BadLine as _BadLine
from bot.intake.readers import FileProblem
from storage.base import utcnow
from storage.db import Database
from storage.models import ImportRun

__all__ = ["FileProblem", "ImportReport", "import_file", "read_rows", "write_error_report"]


@dataclass
class ImportReport:
    kind: str
    file: Path
    rows: int = 0
    resumed_from: int = 0
    retried: int = 0  # rows of a finished run read again because some had been rejected
    created: int = 0
    updated: int = 0
    merged: int = 0
    unchanged: int = 0
    conflict: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_file: Path | None = None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path, kind: str = "orders") -> Iterator[tuple[int, Any]]:
    """(line number, row) for every data row. Blank lines are skipped."""
    return readers.rows(path, kind, readers.Columns.of(KINDS[kind].schema))


def count_rows(path: Path, kind: str = "orders") -> int:
    """Rows, not lines: a quoted CSV cell may span lines (the progress bar's total)."""
    return sum(1 for _ in read_rows(path, kind))


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
    update: bool = False,
) -> ImportReport:
    """Import ``path``; ``crash_after_chunks`` exists for the crash test only.

    ``update``: orders and refunds the store has with other contents are corrected
    (``updated``) instead of reported as ``conflict``. Raises FileProblem, before writing
    anything, when the file cannot be read (encoding, unknown columns, not JSON)."""
    rows = read_rows(path, kind)
    first = next(rows, None)  # reads the header: a FileProblem surfaces before any write
    digest = sha256(path)
    report = ImportReport(kind, path)
    with db.uow() as uow:
        run = uow.session.scalar(
            select(ImportRun).where(ImportRun.kind == kind, ImportRun.file_sha256 == digest)
        )
        if run is None:
            run = ImportRun(kind=kind, file_name=str(path)[:500], file_sha256=digest)
            uow.session.add(run)
        elif run.status == "done" and (run.rejected or update):
            # Rejected rows may get in now (or be corrected): read the whole file again.
            report.retried = run.rows_done
            run.rows_done, run.accepted, run.rejected, run.status = 0, 0, 0, "running"
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
            result = ingest(
                uow.session,
                kind,
                [r for _, r in good],
                tz=tz,
                task_days=task_days,
                update=update,
            )
            run = uow.session.get(ImportRun, run_id)
            assert run is not None
            run.rows_done = seen
            run.accepted += result.summary()["accepted"]
            run.rejected += (
                result.count("rejected") + result.count("conflict") + (len(chunk) - len(good))
            )
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
            for diff in res.differs if res.status == "conflict" else ():
                report.errors.append(
                    {
                        "line": n,
                        "field": diff["field"],
                        "reason": f"conflict: stored {diff['stored']!r}, this file "
                        f"{diff['sent']!r}; re-run with --update to correct the store",
                        "row": json.dumps(raw, ensure_ascii=False),
                    }
                )
            setattr(report, res.status, getattr(report, res.status) + 1)
        report.rows += len(chunk)
        if progress:
            progress(len(chunk))
        chunk.clear()
        chunks_done += 1
        if crash_after_chunks is not None and chunks_done >= crash_after_chunks:
            raise SimulatedCrash(f"crashed after {chunks_done} chunks")

    for lineno, row in _chain(first, rows):
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


def _chain(first: tuple[int, Any] | None, rest: Iterator[tuple[int, Any]]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def write_error_report(report: ImportReport, target: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["line", "field", "reason", "row"])
    writer.writeheader()
    writer.writerows(report.errors)
    # With a BOM, Excel opens it as UTF-8 (without, Chinese text turns into mojibake).
    target.write_text(buf.getvalue(), encoding="utf-8-sig")
    report.error_file = target


class SimulatedCrash(RuntimeError):
    pass
