"""Who a Slack user is: a staff member, by Slack user id, or by email on first contact.

A staff member registered with an email but no Slack user id is linked the first time they
use the app: ``users.info`` gives the email (it needs the ``users:read.email`` scope, see
docs/slack.md) and ``Staff.slack_user_id`` is stored, so later requests need one indexed
lookup. Answers are cached for a minute, like the dispatcher's actor cache.

An email proves little on its own (docs/security.md): anyone may type any address into a
guest account or another workspace. So an email links only a full member of the app's own
workspace (``team_id`` from ``auth.test``), with a confirmed email, who is not a bot, not
deleted and not a (single- or multi-channel) guest; and it never links an admin, who is
linked by hand with ``scrm staff link``. Every link is audited.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.chat.types import Locale
from bot.services import audit
from storage.db import Database
from storage.models import Staff

log = logging.getLogger(__name__)
TTL = 60.0
# An unknown user is asked about again soon: the admin may be registering them right now.
UNKNOWN_TTL = 5.0


@dataclass(frozen=True)
class SlackStaff:
    staff_id: int
    code: str
    role: str
    locale: Locale

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")

    def say(self, zh: str, en: str) -> str:
        return zh if self.locale == "zh" else en


def refusal(user_id: str, email: str | None) -> str:
    seen = f"（邮箱 {email}）" if email else ""
    seen_en = f" (email {email})" if email else ""
    return (
        f"你的 Slack 账号 {user_id}{seen}还没有对应的员工，无法使用。"
        f"请管理员运行 scrm staff add 工号 姓名 --slack {user_id}，或给你的员工记录填上这个邮箱。\n"
        f"Your Slack account {user_id}{seen_en} is not linked to a staff member, so I can't help "
        f"yet. Ask an admin to run `scrm staff add CODE NAME --slack {user_id}`, or to set this "
        "email on your staff record."
    )


def _staff(row: Staff) -> SlackStaff:
    return SlackStaff(row.id, row.code, row.role, "en" if row.locale == "en" else "zh")


def by_slack_id(db: Database, user_id: str) -> SlackStaff | None:
    with db.session() as s:
        row = s.scalar(select(Staff).where(Staff.slack_user_id == user_id, Staff.active.is_(True)))
        return _staff(row) if row else None


def link_by_email(db: Database, user_id: str, email: str) -> SlackStaff | None:
    """Link the one active staff member with this email and no Slack id yet."""
    with db.uow() as uow:
        s = uow.session
        rows = s.scalars(
            select(Staff).where(
                func.lower(Staff.email) == email.strip().lower(),
                Staff.active.is_(True),
                Staff.slack_user_id.is_(None),
            )
        ).all()
        if any(r.role == "admin" for r in rows):
            log.warning("not linking Slack user %s by email: the match is an admin", user_id)
            return None
        if len(rows) != 1:
            return None  # none, or two records share the email: an admin must decide
        row = rows[0]
        row.slack_user_id = user_id
        audit.record(
            s, staff_id=row.id, channel="slack", action="link_slack", user=user_id, by="email"
        )
        uow.commit()
        return _staff(row)


class Directory:
    def __init__(
        self, db: Callable[[], Database], client: AsyncWebClient, ttl: float = TTL
    ) -> None:
        self._db, self._client, self._ttl = db, client, ttl
        self._cache: dict[str, tuple[float, SlackStaff | None, str | None]] = {}
        self._team: str | None = None

    async def lookup(self, user_id: str) -> tuple[SlackStaff | None, str | None]:
        """The staff member (or None) and the email Slack gave, if it was asked."""
        hit = self._cache.get(user_id)
        now = time.monotonic()
        if hit and hit[0] > now:
            return hit[1], hit[2]
        staff = await run_in_threadpool(by_slack_id, self._db(), user_id)
        email = None
        if staff is None:
            email = await self._email(user_id)
            if email:
                staff = await run_in_threadpool(link_by_email, self._db(), user_id, email)
        if len(self._cache) > 10_000:
            self._cache.clear()
        ttl = self._ttl if staff is not None else min(self._ttl, UNKNOWN_TTL)
        self._cache[user_id] = (now + ttl, staff, email)
        return staff, email

    def forget(self, user_id: str) -> None:
        self._cache.pop(user_id, None)

    async def _email(self, user_id: str) -> str | None:
        """The email to link by, or None when this account may not be linked by email."""
        try:
            info = await self._client.users_info(user=user_id)
            team = await self._own_team()
        except SlackApiError as exc:
            log.warning("users.info %s failed: %s", user_id, exc.response.get("error"))
            return None
        user = info.get("user") or {}
        email = (user.get("profile") or {}).get("email")
        why = unlinkable(user, team)
        if why:
            log.warning("not linking Slack user %s by email: %s", user_id, why)
            return None
        return str(email) if email else None

    async def _own_team(self) -> str | None:
        if self._team is None:
            answer = await self._client.auth_test()
            self._team = str(answer.get("team_id") or "") or None
        return self._team


def unlinkable(user: dict[str, object], team: str | None) -> str | None:
    """Why this Slack account may not be linked by its email (None: it may)."""
    if not team or user.get("team_id") != team:
        return "the account belongs to another workspace"
    for flag, why in (
        ("is_bot", "a bot"),
        ("deleted", "a deleted account"),
        ("is_restricted", "a guest (restricted) account"),
        ("is_ultra_restricted", "a single-channel guest"),
        ("is_app_user", "an app user"),
    ):
        if user.get(flag):
            return why
    if user.get("is_email_confirmed") is False:
        return "the email is not confirmed"
    return None
