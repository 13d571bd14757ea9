"""Socket Mode for local development: Slack delivers events, commands and interactivity over
a WebSocket the app opens (``apps.connections.open`` with the app-level token,
``connections:write`` scope), so no public Request URL is needed. The same listeners run;
Bolt skips the signature check for socket-mode envelopes, which are authenticated by the
token instead. The outbox pump runs here too, so digests and shares go out."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi.concurrency import run_in_threadpool
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.outbox import OutboxWorker
from bot.settings import Settings
from integrations.slack.clients import sync_client
from integrations.slack.listeners import SlackBot
from integrations.slack.sender import SlackSender
from storage.db import Database

log = logging.getLogger(__name__)


async def _pump(worker: OutboxWorker) -> None:
    while True:
        try:
            sent = await run_in_threadpool(worker.run_once)
        except Exception:
            log.exception("outbox pump failed; retrying in 5 s")
            await asyncio.sleep(5)
            continue
        await asyncio.sleep(0 if sent else 0.5)


async def run(settings: Settings) -> None:
    if settings.slack_app_token is None or not settings.slack_enabled:
        raise RuntimeError(
            "Socket Mode needs SCRM_SLACK_APP_TOKEN (xapp-…), SCRM_SLACK_BOT_TOKEN and "
            "SCRM_SLACK_SIGNING_SECRET"
        )
    db = Database(settings.database_url)
    bot = SlackBot(settings, lambda: db)
    worker = OutboxWorker(db, {"slack": SlackSender(sync_client(settings))})
    pump = asyncio.create_task(_pump(worker)) if settings.outbox_worker else None
    handler = AsyncSocketModeHandler(bot.app, settings.slack_app_token.get_secret_value())
    try:
        await handler.start_async()
    finally:
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        db.dispose()
