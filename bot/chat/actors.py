"""Who is talking: map a channel's user id to a staff member."""

from __future__ import annotations

from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.chat.types import Actor, Channel, IncomingMessage
from bot.services import scope
from storage.models import Staff

_COLUMN = {
    Channel.CONSOLE: Staff.code,
    Channel.PLAYGROUND: Staff.code,
    Channel.WECOM: Staff.wecom_userid,
    Channel.SLACK: Staff.slack_user_id,
}


def resolve(session: Session, message: IncomingMessage) -> Actor | None:
    column = _COLUMN.get(message.channel)
    if column is None or not message.user_id:
        return None
    staff = session.scalar(select(Staff).where(column == message.user_id, Staff.active.is_(True)))
    if staff is None:
        return None
    return from_staff(session, staff, message.channel)


def from_staff(session: Session, staff: Staff, channel: Channel) -> Actor:
    return Actor(
        staff_id=staff.id,
        code=staff.code,
        name=staff.name,
        role=cast(Literal["guide", "manager", "admin"], staff.role),
        locale="en" if staff.locale == "en" else "zh",
        channel=channel,
        store_ids=scope.store_ids(session, staff),
    )


def deactivated(session: Session, message: IncomingMessage) -> bool:
    """The sender is a staff member who was deactivated (they get their own refusal)."""
    column = _COLUMN.get(message.channel)
    if column is None or not message.user_id:
        return False
    found = session.scalar(
        select(Staff.id).where(column == message.user_id, Staff.active.is_(False))
    )
    return found is not None


def still_active(session: Session, staff_id: int) -> bool:
    return bool(session.scalar(select(Staff.active).where(Staff.id == staff_id)))
