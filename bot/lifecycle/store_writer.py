"""Writing scores back in bulk: COPY into a temporary table and one UPDATE … FROM on
PostgreSQL (a million rows in seconds); executemany by primary key on SQLite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text, update

from storage.db import Database
from storage.models import CustomerStats

FIELDS = (
    "customer_id",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
    "p_alive",
    "expected_purchases",
    "churn_probability",
    "stage",
    "stage_reason",
    "next_change_at",
)
CHUNK = 20_000


def write_scores(db: Database, rows: list[tuple[Any, ...]], now: datetime) -> None:
    if not rows:
        return
    if db.dialect == "postgresql":
        _write_pg(db, rows, now)
    else:
        _write_generic(db, rows, now)


def _write_pg(db: Database, rows: list[tuple[Any, ...]], now: datetime) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TEMP TABLE score_in (customer_id bigint, rfm_r int, rfm_f int, rfm_m int, rfm_segment text,"
            " p_alive float8, expected_purchases float8, churn_probability float8, stage text, stage_reason text,"
            " next_change_at timestamptz) ON COMMIT DROP"
        )
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY score_in ({', '.join(FIELDS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.execute(
            text(
                "UPDATE customer_stats s SET rfm_r = i.rfm_r, rfm_f = i.rfm_f, rfm_m = i.rfm_m,"
                " rfm_segment = i.rfm_segment, p_alive = i.p_alive, expected_purchases = i.expected_purchases,"
                " churn_probability = i.churn_probability,"
                " stage = i.stage, stage_reason = i.stage_reason, next_change_at = i.next_change_at,"
                " dirty = false, updated_at = :now FROM score_in i WHERE s.customer_id = i.customer_id"
            ),
            {"now": now},
        )


def _write_generic(db: Database, rows: list[tuple[Any, ...]], now: datetime) -> None:
    stmt = (
        update(CustomerStats.__table__)  # type: ignore[arg-type]
        .where(CustomerStats.__table__.c.customer_id == bindparam("cid"))
        .values({f: bindparam(f) for f in FIELDS[1:]} | {"dirty": False, "updated_at": now})
    )
    with db.uow() as uow:
        for start in range(0, len(rows), CHUNK):
            uow.session.connection().execute(
                stmt,
                [
                    {"cid": r[0], **dict(zip(FIELDS[1:], r[1:], strict=True))}
                    for r in rows[start : start + CHUNK]
                ],
            )
        uow.commit()
