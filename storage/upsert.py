"""Dialect-aware bulk inserts that skip or update rows already present (SQLite, PostgreSQL).

On PostgreSQL a large batch is streamed with COPY into a temporary staging table and merged
with one ``INSERT … SELECT … ON CONFLICT`` — far fewer round trips and no 10,000-placeholder
statements for the driver to parse. Small batches and SQLite use multi-row VALUES.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

# insertmanyvalues packs rows into one statement; SQLite allows 32766 bound parameters.
CHUNK = 500
COPY_FROM = 50  # rows; below this a plain multi-row INSERT is cheaper than staging


def _table(model: Any) -> Table:
    table: Table = getattr(model, "__table__", model)
    return table


def _insert(session: Session, model: Any) -> Any:
    # A Core insert on the Table, not the mapped class: the ORM's bulk path would send the
    # rows one statement each when RETURNING meets ON CONFLICT.
    table = _table(model)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for dialect {dialect}")


def _use_copy(session: Session, rows: Sequence[Mapping[str, Any]]) -> bool:
    return len(rows) >= COPY_FROM and session.get_bind().dialect.name == "postgresql"


def _defaults(table: Table, given: Sequence[str]) -> dict[str, Any]:
    """Python-side column defaults (``default=utcnow`` …) the rows leave out: COPY and
    INSERT … SELECT bypass SQLAlchemy, so they are applied here, once per batch."""
    out: dict[str, Any] = {}
    for col in table.columns:
        default = col.default
        if col.name in given or default is None or not hasattr(default, "arg"):
            continue
        if getattr(default, "is_sequence", False):
            continue
        arg = default.arg
        out[col.name] = arg(None) if callable(arg) else arg
    return out


def _stage(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """COPY ``rows`` into a per-connection temp table shaped like ``table``; return its name and columns."""
    extra = _defaults(table, list(rows[0].keys()))
    if extra:
        rows = [{**row, **extra} for row in rows]
    cols = list(rows[0].keys())
    stage = f"stage_{table.name}"
    conn = session.connection()
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS SELECT * FROM {table.name} WITH NO DATA"
    )
    conn.exec_driver_sql(f"DELETE FROM {stage}")  # a previous batch in this transaction
    raw = conn.connection.driver_connection
    assert raw is not None
    processors = [table.c[c].type.bind_processor(conn.dialect) for c in cols]
    with raw.cursor() as cur, cur.copy(f"COPY {stage} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [p(row[c]) if p else row[c] for c, p in zip(cols, processors, strict=True)]
            )
    return stage, cols


def _merge_sql(
    table: Table, stage: str, cols: list[str], conflict: list[str], action: str, returning: str
) -> str:
    names = ", ".join(cols)
    return (
        f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} "
        f"ON CONFLICT ({', '.join(conflict)}) {action}{returning}"
    )


def insert_ignore(
    session: Session, model: Any, rows: Sequence[Mapping[str, Any]], conflict: list[str]
) -> None:
    """INSERT … ON CONFLICT (conflict) DO NOTHING for every row."""
    if not rows:
        return
    if _use_copy(session, rows):
        table = _table(model)
        stage, cols = _stage(session, table, rows)
        session.connection().exec_driver_sql(
            _merge_sql(table, stage, cols, conflict, "DO NOTHING", "")
        )
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
    if _use_copy(session, rows):
        table = _table(model)
        stage, names = _stage(session, table, rows)
        returning = " RETURNING " + ", ".join(c.key for c in cols)
        result = session.connection().execute(
            text(_merge_sql(table, stage, names, conflict, "DO NOTHING", returning))
        )
        return list(result.all())
    stmt = _insert(session, model).on_conflict_do_nothing(index_elements=conflict).returning(*cols)
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
    if _use_copy(session, rows):
        table = _table(model)
        stage, cols = _stage(session, table, rows)
        action = "DO UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in update)
        session.connection().exec_driver_sql(_merge_sql(table, stage, cols, conflict, action, ""))
        return
    stmt = _insert(session, model)
    stmt = stmt.on_conflict_do_update(
        index_elements=conflict, set_={c: getattr(stmt.excluded, c) for c in update}
    )
    for start in range(0, len(rows), CHUNK):
        session.execute(stmt, list(rows[start : start + CHUNK]))


def copy_rows(session: Session, model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain bulk INSERT (no conflict handling): COPY on PostgreSQL, multi-row VALUES elsewhere."""
    if not rows:
        return
    table = _table(model)
    if _use_copy(session, rows):
        extra = _defaults(table, list(rows[0].keys()))
        if extra:
            rows = [{**row, **extra} for row in rows]
        cols = list(rows[0].keys())
        conn = session.connection()
        raw = conn.connection.driver_connection
        assert raw is not None
        processors = [table.c[c].type.bind_processor(conn.dialect) for c in cols]
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(
                    [p(row[c]) if p else row[c] for c, p in zip(cols, processors, strict=True)]
                )
        return
    for start in range(0, len(rows), CHUNK):
        session.execute(table.insert(), list(rows[start : start + CHUNK]))
