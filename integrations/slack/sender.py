"""The outbox sender for Slack: renders a queued Reply and posts it, one channel at a time.

Pacing: Slack allows about one message per second per channel for chat.postMessage, with
short bursts ("Rate limits", docs.slack.dev: "Posting messages"). A channel posted to less
than a second ago gets ``Retry(after=…)`` with a reserved slot one second after the last
one, so a fan-out of N pushes to one channel spreads over N seconds and each push loses at
most one attempt to pacing. The slots live in this process: replicas that all run an outbox
worker each pace on their own (run one sending worker per deployment, or accept bursts).

A 429 answer is retried after its ``Retry-After``; errors that will never succeed (not in
the channel, archived, unknown channel, bad token) dead-letter at once.

Exactly once across crashes: chat.postMessage has no idempotency key, so every post carries
the outbox key as message metadata (``{"event_type": "scrm_push", "event_payload": {"key":
…}}``, "Message metadata", docs.slack.dev). A ``redelivery`` (an earlier attempt may have
reached Slack: its worker was killed mid-send, or the network failed after the request left)
first searches the conversation's history since the push was queued for that key (a user
target is read in its DM, found with conversations.open), and a push found there is not
posted again; nor is its chart, as the crash may have come after the upload. A lookup that
fails for now (429, 5xx, network) is retried like a post. This only covers what reaches the
outbox, so the sender's client has no retry handlers (``clients.sync_client``): slack_sdk's
default ``ConnectionErrorRetryHandler`` would re-post a dropped connection by itself, twice
within one attempt.

A lookup Slack refuses for good falls back to posting, with a warning naming the fix:
``missing_scope`` (installed without channels:history, groups:history, im:history) and
``not_in_channel`` (a public channel posted to through chat:write.public, whose history a
bot that is not a member cannot read). Dead-lettering instead would lose the push (nothing
requeues dead rows) to avoid a duplicate, and posting is never worse than before the check.
A push not found within ``HISTORY_PAGES`` pages since it was queued is posted too.
Commercially distributed apps outside the Slack Marketplace get a far lower
conversations.history rate limit (Slack changelog, 2025-05-29); an internal app keeps Tier 3.
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
EVENT_TYPE = "scrm_push"  # message metadata naming the outbox key of a post
HISTORY_PAGES, HISTORY_PAGE = 5, 200  # conversations.history searched for a redelivery
HISTORY_MARGIN = 120.0  # seconds before a push was queued still searched (clock skew)
# Lookup errors that retrying will not cure: post anyway (see the module docstring).
UNCHECKABLE = {
    "missing_scope": "Add the bot scopes channels:history, groups:history and im:history "
    "and reinstall the app to send pushes exactly once.",
    "not_in_channel": "Invite the app to the channel (/invite @app) so it can read the "
    "channel and send pushes exactly once.",
}


class Pacer:
    def __init__(self, pace: float = PACE, clock: Callable[[], float] = time.monotonic) -> None:
        self.pace, self.clock = pace, clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # channel -> last post (or last reserved slot)
        self._slots: dict[int, float] = {}  # outbox id -> its reserved time
        self._posted: dict[str, float] = {}  # channel -> when its last post ended

    def wait(self, channel: str, message_id: int) -> float:
        """0 when the message may go now (and books the channel), else seconds to wait."""
        with self._lock:
            now = self.clock()
            # A slot is booked when a post is allowed to start; a slow post (a loaded
            # machine, a slow network) can end well after it. The next post keeps its
            # distance from that end too, so the gaps Slack sees stay at least the pace.
            after = self._posted.get(channel)
            earliest = after + self.pace if after is not None else None
            slot = self._slots.get(message_id)
            if slot is not None:
                if earliest is not None and earliest > slot:
                    slot = self._slots[message_id] = earliest
                    self._last[channel] = max(self._last.get(channel, slot), slot)
                if now >= slot:
                    del self._slots[message_id]
                    self._last[channel] = max(self._last.get(channel, now), now)
                    return 0.0
                return slot - now
            last = self._last.get(channel)
            free = last is None or now - last >= self.pace
            if free and (earliest is None or now >= earliest):
                self._last[channel] = now
                return 0.0
            slot = max(last + self.pace if last is not None else now, earliest or now)
            self._last[channel] = slot
            self._slots[message_id] = slot
            if len(self._slots) > 10_000:  # forgotten reservations (a message sent elsewhere)
                self._slots = {k: v for k, v in self._slots.items() if v > now - 60}
            return slot - now

    def posted(self, channel: str) -> None:
        """A post to ``channel`` has just ended (or may have reached Slack)."""
        with self._lock:
            self._posted[channel] = self.clock()


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
        if message.redelivery and self._already_posted(message):
            return
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": message.key}}
        try:
            posted = self.client.chat_postMessage(channel=message.target, metadata=metadata, **body)
        except SlackApiError as exc:
            raise _classify(exc) from exc
        except OSError as exc:  # the request may have reached Slack: say so to the outbox
            raise Retry(f"network: {exc}", ambiguous=True) from exc
        finally:
            self.pacer.posted(message.target)
        if reply is not None and reply.chart is not None:
            self._chart(reply, str(posted["channel"]), str(posted["ts"]))

    def _already_posted(self, message: Outgoing) -> bool:
        """Whether a post carrying ``message.key`` is in the target's history."""
        try:
            channel = self._conversation(message.target)
            found = self._find(channel, message)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in UNCHECKABLE:
                needed = exc.response.get("needed")
                log.warning(
                    "redelivery %s to %s: cannot read its history (%s%s), posting it, maybe "
                    "twice. %s",
                    message.key,
                    message.target,
                    error,
                    f", needed: {needed}" if needed else "",
                    UNCHECKABLE[error],
                )
                return False
            raise _classify(exc) from exc
        except OSError as exc:
            raise Retry(f"network: {exc}", ambiguous=True) from exc
        if found is not None:
            log.info(
                "redelivery %s was already posted to %s (ts %s): not posting it again",
                message.key,
                channel,
                found,
            )
            return True
        return False

    def _conversation(self, target: str) -> str:
        # A user id posts into the app's DM with the user; its history lives under the DM id.
        if not target.startswith(("U", "W")):
            return target
        opened = self.client.conversations_open(users=target)
        return str(opened["channel"]["id"])

    def _find(self, channel: str, message: Outgoing) -> str | None:
        """The ts of the post carrying ``message.key`` in ``channel``, or None."""
        oldest = (
            message.created_at.timestamp() - HISTORY_MARGIN
            if message.created_at is not None
            else 0.0
        )
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            page = self.client.conversations_history(
                channel=channel,
                oldest=f"{max(oldest, 0.0):.6f}",
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                cursor=cursor,
            )
            for posted in page.get("messages") or []:
                metadata = posted.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == EVENT_TYPE and payload.get("key") == message.key:
                    return str(posted.get("ts"))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None
        log.warning(
            "redelivery %s: not in the last %d messages of %s, which has more since it was "
            "queued; posting it",
            message.key,
            HISTORY_PAGES * HISTORY_PAGE,
            channel,
        )
        return None

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
