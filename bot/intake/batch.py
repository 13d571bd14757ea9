"""The batch pipeline: validate each row on its own, write the good ones together.

A row is rejected with a reason (row index, field, what to fix) and writes nothing. The good
rows are written set-based in the caller's unit of work. Should a set-based write still fail
(a constraint the checks did not foresee), the batch is retried row by row, each row in its
own savepoint, so one bad row cannot sink the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.intake.rows import explain

log = logging.getLogger(__name__)

# conflict: a key sent again with other contents, written only when the caller asks for it;
# merged: the row showed two stored customers to be one person, and they were merged.
Status = Literal["created", "updated", "merged", "unchanged", "conflict", "rejected"]
STATUSES: tuple[Status, ...] = ("created", "updated", "merged", "unchanged", "conflict", "rejected")


@dataclass
class RowResult:
    index: int
    status: Status = "rejected"
    key: str | None = None
    id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    differs: list[dict[str, Any]] = field(default_factory=list)  # field, stored, sent
    merged: list[int] = field(default_factory=list)  # customers merged into this row's one

    def reject(self, field_name: str, reason: str) -> None:
        self.status = "rejected"
        self.errors.append({"field": field_name, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.key is not None:
            out["key"] = self.key
        if self.id is not None:
            out["id"] = self.id
        if self.errors:
            out["errors"] = self.errors
        if self.differs:
            out["differs"] = self.differs
        if self.merged:
            out["merged"] = self.merged
        return out


@dataclass
class BatchResult:
    results: list[RowResult]

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def rejected(self) -> list[RowResult]:
        return [r for r in self.results if r.status == "rejected"]

    def summary(self) -> dict[str, int]:
        refused = self.count("rejected") + self.count("conflict")
        return {
            "received": len(self.results),
            "accepted": len(self.results) - refused,
            **{status: self.count(status) for status in STATUSES},
        }

    def as_dict(self) -> dict[str, Any]:
        return {**self.summary(), "results": [r.as_dict() for r in self.results]}


M = TypeVar("M", bound=BaseModel)


@dataclass
class Pending(Generic[M]):
    """A row that passed validation, waiting for the writer to decide its fate."""

    row: M
    result: RowResult


Writer = Callable[[Session, list[Pending[Any]]], None]


def run_batch(
    session: Session,
    schema: type[BaseModel],
    raw_rows: Sequence[Any],
    writer: Writer,
    *,
    tz: tzinfo,
    key: Callable[[Any], str],
    offset: int = 0,
) -> BatchResult:
    results: list[RowResult] = []
    pending: list[Pending[Any]] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_rows):
        result = RowResult(index=offset + i)
        results.append(result)
        try:
            row = schema.model_validate(raw, context={"tz": tz})
        except ValidationError as exc:
            result.errors = explain(exc)
            continue
        except (TypeError, ValueError, ArithmeticError) as exc:
            result.reject("row", str(exc))
            continue
        result.key = key(row)
        if result.key in seen:
            result.reject("key", f"{result.key!r} repeats row {seen[result.key]} of this batch")
            continue
        seen[result.key] = result.index
        pending.append(Pending(row, result))
    if not pending:
        return BatchResult(results)

    try:
        with session.begin_nested():
            writer(session, pending)
    except SQLAlchemyError:
        log.warning(
            "set-based write failed; retrying %d rows one by one", len(pending), exc_info=True
        )
        for item in pending:
            item.result.status, item.result.errors, item.result.id = "rejected", [], None
            item.result.differs, item.result.merged = [], []
            try:
                with session.begin_nested():
                    writer(session, [item])
            except SQLAlchemyError as exc:
                item.result.status, item.result.id = "rejected", None
                item.result.errors = [{"field": "row", "reason": _db_reason(exc)}]
    return BatchResult(results)


def _db_reason(exc: SQLAlchemyError) -> str:
    detail = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
    return f"the store refused this row ({detail}); check its references and unique keys"
