"""Dialect-aware bulk inserts that skip or update rows already present (SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# insertmanyvalues packs rows into one statement; SQLite allows 32766 bound parameters.
CHUNK = 500


def _insert(session: Session, model: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"no upsert for dialect {dialect}")


def insert_ignore(
    session: Session, model: Any, rows: Sequence[Mapping[str, Any]], conflict: list[str]
) -> None:
    """INSERT … ON CONFLICT (conflict) DO NOTHING for every row."""
    if not rows:
        return
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=conflict)
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, list(rows[start : start + CHUNK]))


def insert_ignore_returning(
    session: Session, model: Any, rows: Sequence[Mapping[str, Any]], conflict: list[str], *cols: Any
) -> list[Any]:
    """Like ``insert_ignore``, returning ``cols`` of the rows actually inserted."""
    out: list[Any] = []
    if not rows:
        return out
    stmt: Insert = _insert(session, model).on_conflict_do_nothing(index_elements=conflict)
    stmt = stmt.returning(*cols)
    for start in range(0, len(rows), CHUNK):
        out.extend(session.execute(stmt, list(rows[start : start + CHUNK])).all())
    return out


def upsert(
    session: Session,
    model: Any,
    rows: Sequence[Mapping[str, Any]],
    conflict: list[str],
    update: list[str],
) -> None:
    """INSERT … ON CONFLICT (conflict) DO UPDATE SET each of ``update`` to the new value."""
    if not rows:
        return
    stmt = _insert(session, model)
    stmt = stmt.on_conflict_do_update(
        index_elements=conflict, set_={c: getattr(stmt.excluded, c) for c in update}
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, list(rows[start : start + CHUNK]))
