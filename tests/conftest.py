"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
``SCRM_TEST_DATABASE_URL`` points at one (``.ci/run`` does both). Each test gets a clean
database: the schema is built once by the real Alembic migrations, then truncated per test.

``SCRM_TEST_FREEZE=2026-12-01T15:30:00Z`` runs the whole session on a clock that starts at
that instant and ticks (time-machine), so ``.ci/run`` can prove that no test depends on the
hour: 15:30 UTC is 23:30 in Asia/Shanghai, the store's day ending while UTC's is mid-way, and
16:30 UTC is 00:30 there, the store's day a date ahead of UTC's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Base

# At least 24 characters (settings refuse shorter tokens); every scope, so that intake, read
# and admin routes all answer the ``client`` fixture.
TOKEN = "test-token-1-0123456789abcdef"
TOKEN_ENTRY = f"{TOKEN}:read+intake+admin"
FREEZE = os.environ.get("SCRM_TEST_FREEZE", "").strip()
_traveller: Any = None


def pytest_configure(config: pytest.Config) -> None:
    global _traveller
    if FREEZE and _traveller is None:
        # tick=True: time passes from the frozen instant, so timeouts and backoffs still work.
        _traveller = time_machine.travel(FREEZE, tick=True)
        _traveller.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _traveller
    if _traveller is not None:
        _traveller.stop()
        _traveller = None


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"clock frozen at {FREEZE} (ticking)" if FREEZE else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not FREEZE:
        return
    # A child process (``scrm serve``, ``scrm db upgrade``) runs on the machine's clock, not
    # the frozen one; the tests that start one compare the two (token expiry, signatures), so
    # they run only in the unfrozen pass.
    skip = pytest.mark.skip(reason="starts a subprocess, which cannot share the frozen clock")
    for item in items:
        module = getattr(item, "module", None)
        if module is not None and getattr(module, "subprocess", None) is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SCRM_TEST_DATABASE_URL")
    if url:
        db = Database(url)
        with db.engine.begin() as conn:
            # Start from nothing, so the migrations (not create_all) build the schema.
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        db.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def _engine_db(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if inspect(db.engine).has_table("apscheduler_jobs"):  # APScheduler owns this one
        tables.append("apscheduler_jobs")
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def db(_engine_db: Database) -> Database:
    _truncate(_engine_db)
    return _engine_db


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The scheduler thread is started only by the tests about it.
    return Settings(
        database_url=database_url, api_tokens=[TOKEN_ENTRY], scheduler=False, _env_file=None
    )  # type: ignore[call-arg]


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


@pytest.fixture
def api(client: TestClient):  # type: ignore[no-untyped-def]
    """POST a batch and return the JSON, asserting the request itself succeeded."""

    def post(kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = client.post(f"/api/v1/{kind}", json=rows)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    return post


@pytest.fixture
def cli(database_url: str, db: Database, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run ``scrm`` in-process with the test database; returns (exit code, output)."""
    from bot.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> tuple[int, str]:
        result = runner.invoke(
            app,
            list(args),
            input=input,
            env={"SCRM_DATABASE_URL": database_url},
            catch_exceptions=False,
        )
        return result.exit_code, result.output

    return run


@pytest.fixture
def seed(api):  # type: ignore[no-untyped-def]
    """A store, a manager and two guides."""
    api(
        "stores",
        [
            {"code": "SH01", "name": "上海南京西路店", "city": "上海"},
            {"code": "BJ01", "name": "北京三里屯店", "city": "北京"},
        ],
    )
    api(
        "staff",
        [
            {
                "code": "M01",
                "name": "周经理",
                "role": "manager",
                "store": "SH01",
                "wecom_userid": "zhoujl",
            },
            {
                "code": "G01",
                "name": "王芳",
                "role": "guide",
                "store": "SH01",
                "wecom_userid": "wangfang",
            },
            {
                "code": "G02",
                "name": "李娜",
                "role": "guide",
                "store": "BJ01",
                "wecom_userid": "lina",
            },
        ],
    )
