"""Slack Web API clients built from settings, pointed at ``SCRM_SLACK_API_BASE``.

The async client serves the Bolt app (interactive traffic): it retries 429s after
``Retry-After`` and 5xx answers itself (slack_sdk's built-in retry handlers, "Retry
handlers" in the Python SDK docs). The outbox sender uses a plain sync client without the
429 handler: the outbox owns that retry (``Retry(after=Retry-After)``), so a rate-limited
push never blocks the worker thread.
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
    return WebClient(token=_token(settings), base_url=_base(settings), timeout=10)
