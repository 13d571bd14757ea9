"""Alembic owns the schema: the migrations must build exactly what the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from storage.db import Database
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
