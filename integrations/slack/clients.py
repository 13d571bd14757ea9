"""Slack Web API clients built from settings, pointed at ``SCRM_SLACK_API_BASE``.

The async client serves the Bolt app (interactive traffic): it retries 429s after
``Retry-After`` and 5xx answers itself (slack_sdk's built-in retry handlers, "Retry
handlers" in the Python SDK docs). The outbox sender uses a plain sync client with no retry
handlers: the outbox owns every retry (``Retry(after=Retry-After)`` for a 429, a redelivery
check after a dropped connection), so a rate-limited push never blocks the worker thread and
a post whose answer was lost is not posted again blindly.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings


def _base(settings: Settings) -> str:
    base = settings.slack_api_base
    return base if base.endswith("/") else base + "/"


def _token(settings: Settings) -> str:
    if settings.slack_bot_token is None:
        raise RuntimeError("SCRM_SLACK_BOT_TOKEN is not set")
    return settings.slack_bot_token.get_secret_value()


def async_client(settings: Settings) -> AsyncWebClient:
    client = AsyncWebClient(token=_token(settings), base_url=_base(settings), timeout=10)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
    return client


def sync_client(settings: Settings) -> WebClient:
    # No retry handlers at all, not even the SDK's default one for dropped connections: it
    # would post a message again when Slack accepted it and only the answer was lost. The
    # outbox retries instead, as a redelivery that first looks for the post (sender.py).
    return WebClient(
        token=_token(settings), base_url=_base(settings), timeout=10, retry_handlers=[]
    )
