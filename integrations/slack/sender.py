"""The outbox sender for Slack: renders a queued Reply and posts it, one channel at a time.

Pacing: Slack allows about one message per second per channel for chat.postMessage, with
short bursts ("Rate limits", docs.slack.dev: "Posting messages"). A channel posted to less
than a second ago gets ``Retry(after=…)`` with a reserved slot one second after the last
one, so a fan-out of N pushes to one channel spreads over N seconds and each push loses at
most one attempt to pacing. The slots live in this process: replicas that all run an outbox
worker each pace on their own (run one sending worker per deployment, or accept bursts).

A 429 answer is retried after its ``Retry-After``; errors that will never succeed (not in
the channel, archived, unknown channel, bad token) dead-letter at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import serialize
from bot.outbox import Outgoing, Permanent, Retry
from integrations.slack.render import blocks, chart_alt, fallback_text

log = logging.getLogger(__name__)

PACE = 1.0  # seconds between two messages to one channel
PERMANENT = {
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "no_permission",
    "missing_scope",
    "invalid_blocks",
    "msg_too_long",
    "user_not_found",
    "restricted_action",
}


class Pacer:
    def __init__(self, pace: float = PACE, clock: Callable[[], float] = time.monotonic) -> None:
        self.pace, self.clock = pace, clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # channel -> last post (or last reserved slot)
        self._slots: dict[int, float] = {}  # outbox id -> its reserved time

    def wait(self, channel: str, message_id: int) -> float:
        """0 when the message may go now (and books the channel), else seconds to wait."""
        with self._lock:
            now = self.clock()
            slot = self._slots.get(message_id)
            if slot is not None:
                if now >= slot:
                    del self._slots[message_id]
                    self._last[channel] = max(self._last.get(channel, now), now)
                    return 0.0
                return slot - now
            last = self._last.get(channel)
            if last is None or now - last >= self.pace:
                self._last[channel] = now
                return 0.0
            slot = last + self.pace
            self._last[channel] = slot
            self._slots[message_id] = slot
            if len(self._slots) > 10_000:  # forgotten reservations (a message sent elsewhere)
                self._slots = {k: v for k, v in self._slots.items() if v > now - 60}
            return slot - now


class SlackSender:
    def __init__(self, client: WebClient, pacer: Pacer | None = None) -> None:
        self.client, self.pacer = client, pacer or Pacer()

    def send(self, message: Outgoing) -> None:
        wait = self.pacer.wait(message.target, message.id)
        if wait > 0:
            raise Retry(f"paced: {message.target} was posted to under {PACE:.0f} s ago", after=wait)
        reply = None
        if message.kind == "reply":
            reply = serialize.from_dict(message.payload["reply"])
            body: dict[str, Any] = {"text": fallback_text(reply), "blocks": blocks(reply)}
        elif message.kind == "message":
            body = {
                "text": message.payload.get("text", ""),
                "blocks": message.payload.get("blocks"),
            }
        else:
            raise Permanent(f"the Slack sender does not know the kind {message.kind!r}")
        try:
            posted = self.client.chat_postMessage(channel=message.target, **body)
        except SlackApiError as exc:
            raise _classify(exc) from exc
        except OSError as exc:  # the request may have reached Slack: say so to the outbox
            raise Retry(f"network: {exc}", ambiguous=True) from exc
        if reply is not None and reply.chart is not None:
            self._chart(reply, str(posted["channel"]), str(posted["ts"]))

    def _chart(self, reply: Any, channel: str, ts: str) -> None:
        # Best effort: the message is out; failing the push now would post it twice.
        try:
            self.client.files_upload_v2(
                file=reply.chart.png,
                filename="chart.png",
                title=reply.chart.title or "chart",
                alt_txt=chart_alt(reply) or "chart",
                channel=channel,
                thread_ts=ts,
            )
        except (SlackApiError, OSError) as exc:
            log.warning("chart upload to %s failed: %s", channel, exc)


def _classify(exc: SlackApiError) -> Exception:
    response = exc.response
    error = str(response.get("error") or "")
    if response.status_code == 429:
        after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        return Retry("ratelimited", after=float(after) if after else None)
    if response.status_code >= 500:
        return Retry(f"slack {response.status_code}: {error}")
    if error in PERMANENT:
        hint = " (invite the app to the channel: /invite @app)" if error == "not_in_channel" else ""
        return Permanent(error + hint)
    return Retry(error or f"slack {response.status_code}")
