"""The Bolt app: slash commands, buttons, the Home tab, the digest modal, event dedupe.

Bolt's AsyncApp (not the sync App, which would block the event loop) verifies every
request's signature within the 5-minute window before anything here runs, and answers
``url_verification`` itself. ``process_before_response`` stays False: Bolt sends the HTTP
response as soon as a listener calls ``ack()`` and lets the listener carry on, which is how
a slow command acks within Slack's 3 seconds and answers later through ``respond``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.types import Reply
from bot.commands.base import Command
from bot.inbox import first_time
from bot.metrics import Metrics
from bot.settings import Settings
from integrations.slack import digests, home, messages, shares
from integrations.slack.clients import async_client
from integrations.slack.identity import Directory
from integrations.slack.runner import Runner, chart_to_dm, chat_text, upload_chart
from storage.base import utcnow
from storage.db import Database

log = logging.getLogger(__name__)
ACK_BUDGET = 2.0  # seconds of work before acking with "working on it" (Slack waits 3 s)
WORKING = "⏳ 正在处理… / Working on it…"
DIGEST_WORDS = {"digest", "订阅"}


class SlackBot:
    """Everything the listeners share: settings, the store, the Web API client."""

    def __init__(
        self,
        settings: Settings,
        db: Callable[[], Database],
        *,
        metrics: Callable[[], Metrics | None] = lambda: None,
        commands: list[Command] | None = None,
        ack_budget: float = ACK_BUDGET,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings, self.db, self.metrics, self.clock = settings, db, metrics, clock
        self.ack_budget = ack_budget
        self.client: AsyncWebClient = async_client(settings)
        self.directory = Directory(db, self.client)
        self.runner = Runner(db, settings, self.directory, commands, clock)
        assert settings.slack_signing_secret is not None
        self.app = AsyncApp(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            client=self.client,
            process_before_response=False,
        )
        self.app.middleware(self._dedupe)
        for slash in ("/scrm", "/kpi", "/customer"):
            self.app.command(slash)(self._command)
        self.app.action(re.compile(f"^({messages.ITEM_PREFIX}|{messages.NAV_PREFIX})"))(
            self._button
        )
        self.app.action(messages.SHARE)(self._share)
        self.app.event("app_home_opened")(self._home_opened)
        digests.register(self)

    def _count(self, outcome: str) -> None:
        metrics = self.metrics()
        if metrics is not None:
            metrics.inbound.labels("slack", outcome).inc()

    # -- events --------------------------------------------------------------------------

    async def _dedupe(
        self, body: dict[str, Any], next: Callable[[], Any], request: Any
    ) -> BoltResponse | None:
        """Slack retries an event it thinks failed (X-Slack-Retry-Num, same event_id);
        the inbox remembers event ids durably, shared with WeCom's, so a retry after a
        restart or on another replica is dropped too. A button click is the same: a
        replayed block action (same trigger and action timestamp) runs once."""
        key, kind = _inbox_key(body)
        if key and not await run_in_threadpool(self._first_time, key, kind):
            retry = request.headers.get("x-slack-retry-num", ["?"])
            log.info("dropping duplicate Slack %s %s (retry %s)", kind, key, retry)
            self._count("duplicate")
            return BoltResponse(status=200, body="")
        self._count("processed")
        await next()
        return None

    def _first_time(self, key: str, kind: str) -> bool:
        with self.db().uow() as uow:
            fresh = first_time(uow.session, "slack", key, kind)
            uow.commit()
            return fresh

    async def _home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            await self.publish_home(str(event["user"]))

    async def publish_home(self, user_id: str) -> None:
        staff, _ = await self.runner.staff(user_id)
        tasks = None
        if staff is not None and not staff.is_manager:
            tasks = (await self.runner.answer(user_id, "tasks")).reply
        view = await run_in_threadpool(
            home.view, self.db(), self.settings, user_id, self.clock(), tasks
        )
        await self.client.views_publish(user_id=user_id, view=view)

    # -- slash commands -------------------------------------------------------------------

    async def _command(self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        user_id, text = str(command["user_id"]), str(command.get("text") or "")
        words = text.split()
        if command["command"] == "/scrm" and words and words[0].lower() in DIGEST_WORDS:
            await ack()
            await digests.open_modal(self, user_id, str(command["trigger_id"]), respond, command)
            return
        work = asyncio.ensure_future(
            self.runner.answer(user_id, chat_text(command["command"], text))
        )
        done, _ = await asyncio.wait({work}, timeout=self.ack_budget)
        if done:
            answer = work.result()
            await ack(response_type="ephemeral", **messages.ephemeral(answer))
        else:
            await ack(response_type="ephemeral", text=WORKING)
            answer = await work
            await respond(response_type="ephemeral", **messages.ephemeral(answer))
        await chart_to_dm(self.client, answer)

    # -- buttons --------------------------------------------------------------------------

    async def _button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        answer = await self.runner.answer(user_id, str(action["value"]))
        if (body.get("container") or {}).get("type") == "view":
            # A Home tab button has no response_url: the answer goes to the DM, and the
            # tab is drawn again (a done task shows as done).
            await self.dm(user_id, answer.reply)
            await self.publish_home(user_id)
            return
        # A navigation button re-renders the same message; an item's button (done, pick a
        # candidate) answers below it and leaves the list in place.
        rerender = str(action["action_id"]).startswith(messages.NAV_PREFIX)
        await respond(
            response_type="ephemeral", replace_original=rerender, **messages.ephemeral(answer)
        )
        await chart_to_dm(self.client, answer)

    async def _share(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        user_id = str(body["user"]["id"])
        channel = str((body.get("channel") or {}).get("id") or "")
        staff, _ = await self.runner.staff(user_id)
        locale = staff.locale if staff is not None else "zh"
        reply = await run_in_threadpool(
            shares.take, self.db(), user_id, str(action.get("value") or ""), self.clock()
        )
        if reply is None:
            # Never run the command again to get something to share: say so instead.
            text = (
                "这条回复已经分享过或已过期，没有再分享。请重新运行命令后再分享。"
                if locale == "zh"
                else "This answer was already shared or is too old; nothing was posted. "
                "Run the command again to share it."
            )
            await respond(
                response_type="ephemeral", replace_original=False, **messages.notice(text)
            )
            return
        answer = messages.Answer(reply, "", locale, user_id=user_id)
        try:
            posted = await self.client.chat_postMessage(channel=channel, **messages.shared(answer))
            await upload_chart(self.client, answer.reply, str(posted["channel"]), posted["ts"])
        except SlackApiError as exc:
            await respond(
                response_type="ephemeral",
                replace_original=False,
                **messages.notice(self.channel_error(answer.locale, exc)),
            )
            return
        await respond(delete_original=True)

    def channel_error(self, locale: str, exc: SlackApiError) -> str:
        error = str(exc.response.get("error"))
        if error in ("not_in_channel", "channel_not_found"):
            return (
                "我还不在这个频道里。先在频道里输入 /invite @我 邀请我，再试一次。"
                if locale == "zh"
                else "I'm not in that channel. Invite me with /invite @me there, then try again."
            )
        return f"Slack: {error}"

    async def dm(self, user_id: str, reply: Reply) -> None:
        posted = await self.client.chat_postMessage(channel=user_id, **messages.plain(reply))
        await upload_chart(self.client, reply, str(posted["channel"]), posted["ts"])


def _inbox_key(body: dict[str, Any]) -> tuple[str | None, str]:
    """The inbox key of an event or a block action (None for anything else)."""
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}", str((body.get("event") or {}).get("type", ""))[:64]
    if body.get("type") == "block_actions":
        acts = body.get("actions") or [{}]
        stamp = str(acts[0].get("action_ts") or "")
        trigger = str(body.get("trigger_id") or "")
        if stamp or trigger:
            user = str((body.get("user") or {}).get("id", ""))
            return f"action:{user}:{trigger}:{stamp}"[:128], "block_actions"
    return None, ""
