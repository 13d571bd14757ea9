"""``scrm scheduler status`` names the leader of this database only: PostgreSQL lists every
database's advisory locks in ``pg_locks``, and a scheduler leading another database on the
same server (a second store, a staging copy) was reported as this one's leader."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import create_engine, text

from bot.scheduler.leader import LOCK_KEY, current_leader
from storage.db import Database


def test_a_leader_of_another_database_is_not_this_ones(db: Database, database_url: str) -> None:
    if db.dialect != "postgresql":
        pytest.skip("leader election exists on PostgreSQL only")
    parts = urlsplit(database_url)
    other = urlunsplit(parts._replace(path="/postgres"))  # always there; only a lock is taken
    engine = create_engine(other, connect_args={"application_name": "scheduler-of-another-db"})
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar()
            assert current_leader(db) is None
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    finally:
        engine.dispose()
