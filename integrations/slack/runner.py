"""Run a chat command as a Slack user, and deliver a reply's chart.

The core is synchronous (plain SQLAlchemy sessions), so each command runs in the thread
pool; the event loop only waits for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from fastapi.concurrency import run_in_threadpool
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply
from bot.commands.base import Command
from bot.settings import Settings
from integrations.slack import nav, shares
from integrations.slack.identity import Directory, SlackStaff, refusal
from integrations.slack.messages import Answer
from integrations.slack.render import chart_alt
from storage.base import utcnow
from storage.db import Database

log = logging.getLogger(__name__)

# What the Slack-only slash commands mean in chat words (DESIGN.md: "/kpi and /customer").
SLASH = {"/kpi": "kpi", "/customer": "profile"}


def chat_text(slash: str, text: str) -> str:
    """``/kpi D11`` -> ``kpi D11``; ``/scrm tasks`` -> ``tasks``."""
    word = SLASH.get(slash)
    text = " ".join(text.split())
    return f"{word} {text}".strip() if word else text


class Runner:
    def __init__(
        self,
        db: Callable[[], Database],
        settings: Settings,
        directory: Directory,
        commands: list[Command] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db, self.settings, self.directory = db, settings, directory
        self._commands, self._clock = commands, clock
        self._dispatcher: Dispatcher | None = None

    @property
    def dispatcher(self) -> Dispatcher:
        # Built on first use: the database only exists once the app's lifespan has started.
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self._db(), self.settings, commands=self._commands, clock=self._clock
            )
        return self._dispatcher

    async def staff(self, user_id: str) -> tuple[SlackStaff | None, Answer | None]:
        """The staff member, or the refusal to answer with."""
        staff, email = await self.directory.lookup(user_id)
        if staff is None:
            reply = Reply(text=refusal(user_id, email), kind="refusal")
            return None, Answer(reply, "", "zh", user_id=user_id)
        return staff, None

    async def answer(self, user_id: str, command: str) -> Answer:
        staff, refused = await self.staff(user_id)
        if staff is None:
            assert refused is not None
            return refused
        return await run_in_threadpool(self._answer, staff, user_id, command)

    def _answer(self, staff: SlackStaff, user_id: str, command: str) -> Answer:
        reply = self.dispatcher.handle(IncomingMessage(Channel.SLACK, user_id, command))
        rows = []
        if reply.kind == "ok" and nav.kpi_args(command) is not None:
            with self._db().session() as s:
                rows = nav.rows(s, command, reply, staff.locale)
        share_id = shares.keep(self._db(), user_id, reply, self._clock())
        return Answer(reply, command, staff.locale, rows, user_id, share_id)


async def upload_chart(
    client: AsyncWebClient, reply: Reply, channel: str, thread_ts: str | None = None
) -> None:
    """Upload the reply's chart with ``files_upload_v2`` (files.getUploadURLExternal, the
    upload, files.completeUploadExternal; the legacy files.upload was retired in 2025).
    Alt text is always set: screen readers read it and Slack shows it if the image fails."""
    chart = reply.chart
    if chart is None:
        return
    alt = chart_alt(reply) or "chart"
    await client.files_upload_v2(
        file=chart.png,
        filename="chart.png",
        title=(chart.title or alt)[:250],
        alt_txt=alt[:1000],
        channel=channel,
        thread_ts=thread_ts,
    )


async def chart_to_dm(client: AsyncWebClient, answer: Answer) -> None:
    """An ephemeral answer cannot carry a file, so its chart goes to the user's DM with the
    app, which only they can see (conversations.open needs the ``im:write`` scope)."""
    if answer.reply.chart is None:
        return
    try:
        opened = await client.conversations_open(users=answer.user_id)
        await upload_chart(client, answer.reply, str(opened["channel"]["id"]))
    except SlackApiError as exc:
        log.warning("chart upload to %s failed: %s", answer.user_id, exc.response.get("error"))
