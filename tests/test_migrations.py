"""Alembic owns the schema: the migrations must build exactly what the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from storage.db import Database
from storage.migrate import at_head
from storage.models import Base


def test_models_and_migrations_agree(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": False,
                # APScheduler creates and owns its job table; it is not part of our schema.
                "include_name": lambda name, kind, _parent: (
                    not (kind == "table" and name == "apscheduler_jobs")
                ),
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models differ from migrations; add a revision: {diff}"


def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    """Three `scrm serve` replicas on one empty PostgreSQL database upgrade at the same time."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite is one process; PostgreSQL is where replicas start together")
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/") + "_replicas"
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = urlunsplit(parts._replace(path="/" + name))
    try:
        # Processes, as replicas are (Alembic's context is process-global, not thread-safe).
        scrm = str(Path(sys.executable).with_name("scrm"))
        env = {**os.environ, "SCRM_DATABASE_URL": url}
        procs = [
            subprocess.Popen([scrm, "db", "upgrade"], env=env, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            # a race would fail one: a duplicate table, type or version row
            assert proc.returncode == 0, err.decode()[-2000:]
        engine = create_engine(url)
        assert at_head(engine, url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
