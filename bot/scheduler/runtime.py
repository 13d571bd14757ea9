"""What scheduled jobs run against. APScheduler's SQLAlchemy job store keeps jobs as
references to module functions; the live objects they need (database, settings, channel
hooks) are installed here when the scheduler starts, never at import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.metrics import Metrics
from bot.outbox import Sender
from bot.settings import Settings
from storage.base import utcnow
from storage.db import Database


@dataclass
class Runtime:
    db: Database
    settings: Settings
    runner: str
    metrics: Metrics | None = None
    senders: dict[str, Sender] = field(default_factory=dict)
    # Channel features the scheduler calls when present, e.g. "send_digest", "wecom_reconcile".
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow


_current: Runtime | None = None


def install(runtime: Runtime) -> None:
    global _current
    _current = runtime


def get() -> Runtime:
    if _current is None:
        raise RuntimeError("the scheduler runtime is not installed; start it with SchedulerService")
    return _current
