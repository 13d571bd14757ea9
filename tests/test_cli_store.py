"""The CLI never creates or migrates a store by accident, and says what it cannot do.

Only ``scrm db upgrade``, ``scrm serve`` and ``scrm demo`` create or migrate a database; every
other command refuses a missing store, or one not at the schema head, with a sentence naming
the URL it tried (password hidden) and how to create it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import Database
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import OutboxMessage, Staff, Task

# Commands that open the store and must never create it.
OPENERS = [
    ["staff", "list"],
    ["staff", "add", "G9", "某某"],
    ["recompute"],
    ["tasks", "generate"],
    ["tasks", "push"],
    ["chat", "--as", "G101", "--command", "help"],
    ["doctor"],
    ["scheduler", "status"],
    ["import", "orders", "orders.csv"],
]


def run(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    # scrm demo sets SCRM_* for the server it starts: keep that out of the other tests.
    clean: dict[str, str | None] = {"SCRM_DEMO": None, "SCRM_API_TOKENS": None}
    result = CliRunner().invoke(
        app,
        list(args),
        env={**clean, "SCRM_DATABASE_URL": url, **(env or {})},
        catch_exceptions=False,
    )
    return result.exit_code, " ".join(result.output.split())  # rich wraps at 80 columns


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env, and relative SQLite paths land here
    (tmp_path / "orders.csv").write_text(
        "order_no,phone,ordered_at,paid\nX1,13800000001,2026-11-01,1.00\n"
    )
    return tmp_path


@pytest.mark.parametrize("args", OPENERS, ids=lambda a: " ".join(a[:2]))
def test_a_mistyped_sqlite_url_is_refused_and_no_file_appears(here: Path, args: list[str]) -> None:
    code, out = run("sqlite:///./scrn.db", *args)
    assert code == 2, out
    assert "No store at sqlite:///./scrn.db" in out and "does not exist" in out
    assert "scrm db upgrade" in out and "SCRM_DATABASE_URL" in out
    assert not (here / "scrn.db").exists()


def test_demo_token_does_not_build_a_demo(here: Path) -> None:
    code, out = run("", "demo", "--token", "--database", "sqlite:///./nodemo.db")
    assert code == 2 and "No store at sqlite:///./nodemo.db" in out
    assert not (here / "nodemo.db").exists()


def test_the_password_never_shows(here: Path) -> None:
    code, out = run("postgresql://scrm:s3cret-pw@127.0.0.1:1/scrm", "staff", "list")
    assert code == 2 and "Cannot open the store at postgresql://scrm:***@127.0.0.1:1/scrm" in out
    assert "s3cret-pw" not in out


def test_an_empty_file_is_not_a_store(here: Path) -> None:
    (here / "empty.db").write_bytes(b"")
    code, out = run("sqlite:///./empty.db", "staff", "list")
    assert code == 2 and "holds no scrm store" in out and "scrm db upgrade" in out


def test_a_store_behind_the_head_is_refused_until_db_upgrade(here: Path) -> None:
    url = "sqlite:///./old.db"
    upgrade(url, "0001")
    code, out = run(url, "staff", "list")
    assert code == 2 and "at schema revision 0001" in out and "Run `scrm db upgrade`" in out
    db = Database(url)
    assert current_revision(db.engine) == "0001"  # refusing changed nothing
    code, out = run(url, "db", "upgrade")
    assert code == 0 and "Database at head: sqlite:///./old.db" in out
    assert current_revision(db.engine) == head_revision(url)
    db.dispose()
    code, out = run(url, "staff", "list")
    assert code == 0 and "code" in out


def test_db_upgrade_creates_the_store(here: Path) -> None:
    code, _ = run("sqlite:///./new.db", "db", "upgrade")
    assert code == 0 and (here / "new.db").exists()
    assert run("sqlite:///./new.db", "staff", "list")[0] == 0


def _guides_with_tasks(db: Database) -> None:
    """G01 reachable on WeCom only, G02 on Slack only; each has an open task today."""
    from storage.models import Customer, Store

    with db.uow() as uow:
        s = uow.session
        store = Store(code="SH01", name="上海店")
        s.add(store)
        s.flush()
        g1 = Staff(code="G01", name="王芳", role="guide", store_id=store.id, wecom_userid="wf")
        g2 = Staff(code="G02", name="李娜", role="guide", store_id=store.id, slack_user_id="U02")
        c1, c2 = Customer(name="赵一"), Customer(name="钱二")
        s.add_all([g1, g2, c1, c2])
        s.flush()
        for guide, customer in ((g1, c1), (g2, c2)):
            s.add(Task(guide_id=guide.id, customer_id=customer.id, day=TODAY, kind="silent"))
        uow.commit()


TODAY = date(2026, 11, 20)
MORNING = "2026-11-20T02:30:00+00:00"  # 10:30 in Shanghai: outside quiet hours


def test_tasks_push_with_no_channel_says_nothing_can_be_sent(
    database_url: str, db: Database, here: Path
) -> None:
    _guides_with_tasks(db)
    with time_machine.travel(MORNING, tick=False):
        code, out = run(database_url, "tasks", "push")
    assert code == 1, out
    assert "Nothing can be sent: no chat channel is configured" in out
    assert "SCRM_WECOM_CORP_ID" in out and "SCRM_SLACK_BOT_TOKEN" in out
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0  # nothing pending


def test_tasks_push_names_the_guides_it_cannot_reach(
    database_url: str, db: Database, here: Path
) -> None:
    _guides_with_tasks(db)
    slack = {
        "SCRM_SLACK_BOT_TOKEN": "xoxb-test-1",
        "SCRM_SLACK_SIGNING_SECRET": "8f1c2e9a7b6d5c4e3f2a1b0c9d8e7f6a",
    }
    with time_machine.travel(MORNING, tick=False):
        code, out = run(database_url, "tasks", "push", env=slack)
    assert code == 0, out
    assert "1 guides cannot be reached" in out and "G01 (wecom is not configured)" in out
    assert "G02" not in out.split("cannot be reached")[1]
    with db.session() as s:
        keys = set(s.scalars(select(OutboxMessage.idempotency_key)))
    assert "tasks:G02:2026-11-20" in keys


def test_tasks_generate_twice_says_the_day_is_already_generated(
    database_url: str, db: Database, here: Path
) -> None:
    _guides_with_tasks(db)
    code, out = run(database_url, "tasks", "generate", "--date", "2026-11-20")
    assert code == 0
    assert "Tasks for 2026-11-20 already generated: 2 tasks for 2 guides" in out
    assert "0 new for 0 guides" not in out
    with db.uow() as uow:
        uow.session.execute(Task.__table__.delete())
        uow.session.execute(Staff.__table__.update().values(active=False))
        uow.commit()
    code, out = run(database_url, "tasks", "generate", "--date", "2026-11-21")
    assert code == 0 and "there is no active guide" in out and "scrm staff add" in out
