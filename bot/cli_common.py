"""Helpers shared by the ``scrm`` command modules: settings, database, consoles, dates."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from bot.settings import Settings

console = Console()
err = Console(stderr=True)


def settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        err.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc


def database(settings: Settings, *, upgrade: bool = False) -> Any:
    """The store named by the settings, ready for use.

    Only ``scrm db upgrade``, ``scrm serve`` and ``scrm demo`` pass ``upgrade=True`` (create
    or migrate). Every other command refuses a store that is missing or not at the schema
    head: a mistyped SCRM_DATABASE_URL must not quietly become a new, empty store.
    """
    from storage.db import Database
    from storage.migrate import upgrade as run_upgrade

    if upgrade:
        run_upgrade(settings.database_url)
        return Database(settings.database_url)
    trouble = store_problem(settings.database_url)
    if trouble:
        err.print(trouble, style="red", markup=False, highlight=False)
        raise typer.Exit(2)
    return Database(settings.database_url)


def now_for(settings: Settings, day: str | None) -> datetime:
    """ "Now" for a run: the current time, or the end of the given local day."""
    from datetime import date, datetime, time

    from storage.base import utcnow

    if day is None:
        return utcnow()
    try:
        d = date.fromisoformat(day)
    except ValueError as exc:
        err.print(f"[red]{day!r} is not a date;[/red] write it as YYYY-MM-DD.")
        raise typer.Exit(2) from exc
    return datetime.combine(d, time(23, 59, 59), settings.tz)


CREATE_HINT = (
    "Create it with `scrm db upgrade` (or build the demo store with `scrm demo`), "
    "or set SCRM_DATABASE_URL to the store you meant."
)


def redacted(url: str) -> str:
    """The URL as it may be shown: the password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


def store_problem(url: str) -> str | None:
    """Why ``url`` is not a usable store (a sentence saying what to do), or None if it is."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from storage.migrate import alembic_config, current_revision, make_engine

    shown = redacted(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        return f"SCRM_DATABASE_URL={shown} is not a database URL; write it like sqlite:///./scrm.db or postgresql://user:password@host/db."
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:"):
            return f"{shown} is an in-memory database, empty in every process; point SCRM_DATABASE_URL at a file."
        # Opening a missing SQLite file would create it: look before connecting.
        if not path.startswith("file:") and not Path(path).exists():
            return f"No store at {shown}: the file {path} does not exist. {CREATE_HINT}"
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        if parsed.get_backend_name() == "postgresql" and "does not exist" in reason:
            return (
                f"No store at {shown} ({reason}). Create the database with "
                f"`createdb {parsed.database}` and then `scrm db upgrade`, or set "
                f"SCRM_DATABASE_URL to the store you meant."
            )
        return f"Cannot open the store at {shown} ({reason}). {CREATE_HINT}"
    finally:
        engine.dispose()
    scripts = ScriptDirectory.from_config(alembic_config(url))
    head = scripts.get_current_head()
    if current is None:
        return f"{shown} holds no scrm store (no schema yet). {CREATE_HINT}"
    if current == head:
        return None
    known = {rev.revision for rev in scripts.walk_revisions()}
    if current not in known:
        return (
            f"The store at {shown} is at schema revision {current}, which this version of scrm "
            f"does not know (a newer version migrated it): upgrade scrm, or point "
            f"SCRM_DATABASE_URL at another store."
        )
    return (
        f"The store at {shown} is at schema revision {current}; this version needs {head}. "
        f"Run `scrm db upgrade` (back the store up first), then run this command again."
    )
