"""The two settings the KPI facts depend on, carried to the intake writers on the session.

Intake writers are called as ``writer(session, batch)`` and never see ``Settings``; the
facts still need the store's time zone (a cell is a *local* day) and the task window. The
caller that opens the unit of work puts them on ``session.info`` with ``bind``; without it
the defaults of ``Settings`` apply (Asia/Shanghai, 14 days), which is what a deployment
that does not set SCRM_TIMEZONE / SCRM_TASK_ATTRIBUTION_DAYS runs with anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.settings import Settings

_KEY = "scrm.kpi"


@dataclass(frozen=True)
class KpiConfig:
    tz: tzinfo
    task_days: int

    def day(self, at: datetime) -> date:
        """The local calendar day of a UTC instant."""
        return at.astimezone(self.tz).date()


DEFAULT = KpiConfig(
    tz=ZoneInfo(str(Settings.model_fields["timezone"].default)),
    task_days=int(Settings.model_fields["task_attribution_days"].default),
)


def from_settings(settings: Settings) -> KpiConfig:
    return KpiConfig(tz=settings.tz, task_days=settings.task_attribution_days)


def bind(session: Session, config: KpiConfig) -> None:
    session.info[_KEY] = config


def use(session: Session, *, tz: tzinfo | None = None, task_days: int | None = None) -> None:
    """Bind what the caller knows (the intake knows the time zone, not the task window)."""
    now = for_session(session)
    bind(session, replace(now, tz=tz or now.tz, task_days=task_days or now.task_days))


def for_session(session: Session) -> KpiConfig:
    found = session.info.get(_KEY)
    return found if isinstance(found, KpiConfig) else DEFAULT
