"""Pushing a Reply to a staff member through the outbox, respecting quiet hours.

The payload is the neutral Reply (``kind="reply"``); the channel's sender renders it when it
sends. A push to a guide that would land in quiet hours waits in the outbox until they end.
A push about one day (the morning list, the day's summary) is worthless once that day's
quiet hours begin: it expires then instead of arriving late (``evening_of``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.chat import serialize
from bot.chat.types import Reply
from bot.outbox import enqueue
from bot.settings import Settings


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def after_quiet_hours(now: datetime, settings: Settings, tz: ZoneInfo | None = None) -> datetime:
    """``now`` if it is within working hours, else the next end of quiet hours."""
    zone = tz or settings.tz
    local = now.astimezone(zone)
    start, end = _clock(settings.quiet_start), _clock(settings.quiet_end)
    t = local.time()
    quiet = (t >= start or t < end) if start > end else (start <= t < end)
    if not quiet:
        return now
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, zone).astimezone(now.tzinfo)


def evening_of(day: date, settings: Settings, tz: ZoneInfo | None = None) -> datetime:
    """When a push about ``day`` stops being worth sending: the start of that evening's quiet
    hours, or the day's end when quiet hours are off or begin after midnight."""
    zone = tz or settings.tz
    start, end = _clock(settings.quiet_start), _clock(settings.quiet_end)
    if start > end:
        return datetime.combine(day, start, zone)
    return datetime.combine(day + timedelta(days=1), time(0), zone)


def push_reply(
    session: Session,
    *,
    settings: Settings,
    channel: str,
    target: str,
    reply: Reply,
    key: str,
    now: datetime,
    respect_quiet_hours: bool = True,
    expires_at: datetime | None = None,
) -> None:
    not_before = after_quiet_hours(now, settings) if respect_quiet_hours else now
    enqueue(
        session,
        channel=channel,
        kind="reply",
        target=target,
        key=key,
        payload={"reply": serialize.to_dict(reply)},
        not_before=not_before,
        expires_at=expires_at,
    )
