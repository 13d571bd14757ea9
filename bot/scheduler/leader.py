"""Choosing one scheduler among replicas.

On PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
lock dies with that connection, so when a leader process dies its lock is released and a
standby (polling every ``leader_poll_seconds``) takes over. On SQLite there is one process
by construction (the database is a local file), so it always leads.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from storage.db import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x5C12A551  # "scrm assistant scheduler"


class Leadership:
    def __init__(self, db: Database, runner: str) -> None:
        self.db, self.runner = db, runner
        self._conn: Any = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self.db.dialect != "postgresql"

    def try_acquire(self) -> bool:
        """Take the lock if free; check it is still ours if we hold it. True when leading."""
        if self.db.dialect != "postgresql":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.warning("lost the scheduler leader connection; standing down")
                self._drop()
        conn = self.db.engine.connect()
        try:
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": self.runner[:60]},
            )
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            )
            conn.commit()
        except SQLAlchemyError:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("%s is the scheduler leader", self.runner)
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                self._conn.commit()
            except SQLAlchemyError:
                pass
            self._drop()

    def _drop(self) -> None:
        try:
            self._conn.invalidate()  # never return a lock-holding connection to the pool
            self._conn.close()
        except Exception:
            pass
        self._conn = None


def current_leader(db: Database) -> str | None:
    """Who holds the lock (its application_name), for ``scrm scheduler status``. Advisory
    locks belong to one database, but ``pg_locks`` lists the whole cluster's: without the
    database filter a scheduler leading another database on the same server was named."""
    if db.dialect != "postgresql":
        return "not tracked (SQLite has no leader election: run one process per database file)"
    with db.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.objid = :k AND l.granted "
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"k": LOCK_KEY & 0xFFFFFFFF},
        ).scalar()
