"""Mount Slack on the FastAPI app: ``POST /slack/events`` and the outbox sender.

One Request URL serves the Events API, slash commands and interactivity (Bolt tells them
apart by body). The handler translates Starlette requests to Bolt's and back
(``AsyncSlackRequestHandler``); the database is read from ``app.state`` on each request,
since the app's lifespan creates it after mounting.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

from bot.outbox import Sender
from bot.settings import Settings
from integrations.slack.clients import sync_client
from integrations.slack.listeners import SlackBot
from integrations.slack.sender import SlackSender


def mount(app: FastAPI, settings: Settings, **options: Any) -> Sender:
    """``options`` go to ``SlackBot`` (tests pass ``commands``, ``ack_budget``, ``clock``)."""
    bot = SlackBot(
        settings,
        lambda: app.state.db,
        metrics=lambda: getattr(app.state, "metrics", None),
        **options,
    )
    handler = AsyncSlackRequestHandler(bot.app)
    app.state.slack = bot

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        response = await handler.handle(request)
        if response.status_code == 401:  # bad or stale signature: Bolt did nothing else
            metrics = getattr(app.state, "metrics", None)
            if metrics is not None:
                metrics.inbound.labels("slack", "rejected").inc()
        return response

    return SlackSender(sync_client(settings))
