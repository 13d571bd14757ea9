"""A chat command's answer as a Slack message: the rendered reply plus the Slack-only
controls (KPI navigation, "Share to channel"). Pure functions, like ``render``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.chat.types import Action, Locale, Reply
from integrations.slack.render import (
    BUTTON_TEXT_MAX,
    MAX_BLOCKS,
    Block,
    blocks,
    escape,
    fallback_text,
)

SHARE = "scrm_share"
NAV_PREFIX = "scrm_nav_"
ITEM_PREFIX = "scrm_item_"


@dataclass
class Answer:
    """What running one command as a Slack user produced."""

    reply: Reply
    command: str
    locale: Locale = "zh"
    nav: list[list[Action]] = field(default_factory=list)
    user_id: str = ""
    share_id: str | None = None  # the kept reply a "Share to channel" button posts

    def say(self, zh: str, en: str) -> str:
        return zh if self.locale == "zh" else en


def _button(action: Action, action_id: str) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": action.label[:BUTTON_TEXT_MAX], "emoji": True},
        "action_id": action_id,
        "value": action.command,
    }
    if action.style in ("primary", "danger"):
        button["style"] = action.style
    return button


def _nav_blocks(rows: list[list[Action]]) -> list[Block]:
    return [
        {
            "type": "actions",
            "block_id": f"scrm_nav_row_{r}",
            "elements": [_button(a, f"{NAV_PREFIX}{r}_{i}") for i, a in enumerate(row[:25])],
        }
        for r, row in enumerate(rows)
        if row
    ]


def ephemeral(answer: Answer) -> dict[str, Any]:
    """The private answer: navigation to re-render it and a button to share it."""
    extra = _nav_blocks(answer.nav)
    if answer.share_id:
        share = Action(answer.say("分享到频道", "Share to channel"), answer.share_id)
        extra.append({"type": "actions", "elements": [_button(share, SHARE)]})
    if answer.reply.chart is not None:
        extra.append(
            _context(
                answer.say("📈 图表已发到你和我的私信里。", "📈 The chart is in your DM with me.")
            )
        )
    return _compose(answer.reply, extra)


def shared(answer: Answer) -> dict[str, Any]:
    """The answer posted to a channel: no private controls, and who shared it."""
    note = answer.say(f"<@{answer.user_id}> 分享", f"Shared by <@{answer.user_id}>")
    return _compose(answer.reply, [_context(note)])


def plain(reply: Reply) -> dict[str, Any]:
    return _compose(reply, [])


def notice(text: str) -> dict[str, Any]:
    return {"text": escape(text), "blocks": blocks(Reply(text=text))}


def _context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def _compose(reply: Reply, extra: list[Block]) -> dict[str, Any]:
    body = blocks(reply)
    # The renderer already caps at 50 blocks; make room for the controls, which matter more
    # than the last rows of a long list.
    room = MAX_BLOCKS - len(extra)
    if len(body) > room:
        body = body[:room]
    return {"text": fallback_text(reply), "blocks": body + extra}
