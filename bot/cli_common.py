"""Helpers shared by the ``scrm`` command modules: settings, database, consoles, dates."""

from __future__ import annotations

from datetime import datetime
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


def database(settings: Settings, *, upgrade: bool = True) -> Any:
    from storage.db import Database
    from storage.migrate import upgrade as run_upgrade

    if upgrade:
        run_upgrade(settings.database_url)
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
