"""Pick-lists: "3 customers match 'zs'; reply with a number".

Each list gets an id. A typed number picks from the newest list (the one on screen). A
button carries its list's id and the customer's id (``pick:<list> tag #42 VIP``), so a
button on an older list still acts on the customer it was drawn for, never on whoever is
number N in a newer list. A list that writes something (tag, untag, note) is used once: a
second pick from it, typed or tapped, says which customer was picked and runs nothing.
Opening a profile writes nothing, so a find/profile list's buttons are plain
``profile #42`` commands that can be tapped again.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import select

from bot.chat.types import Action, Item, Reply
from bot.commands.base import Context
from bot.commands.find import hit_item
from bot.inbox import first_time
from bot.services import finder
from storage.models import Customer, InboxEvent

PREFIX = "pick:"
_GUARD = re.compile(r"pick:[0-9a-f]{6,32}")
SOURCE = "chat"


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def guard(list_id: str) -> str:
    return PREFIX + list_id


def is_guard(token: str) -> bool:
    return bool(_GUARD.fullmatch(token))


def command(pending: dict[str, Any], customer_id: int) -> list[str]:
    return [pending["command"], f"#{customer_id}", *pending["rest"]]


def _quote(token: str) -> str:
    if token and not any(ch.isspace() or ch in "\"'“”‘’「」『』《》" for ch in token):
        return token
    return "「" + token.replace("」", "") + "」"


def item(
    ctx: Context, pending: dict[str, Any], number: int, hit: finder.Hit, pick: bool = True
) -> Item:
    """A candidate; its button picks it (``pick``) or, for a search, opens its profile."""
    if not pick:
        return hit_item(ctx, number, hit)
    words = command(pending, hit.id)
    if ctx.actor.locale == "zh":  # the command as the guide would type it
        words[0] = next((c.zh for c in ctx.commands if c.name == words[0]), words[0])
    text = " ".join(_quote(t) for t in words)
    if pending["command"] != "profile":
        text = f"{guard(pending['list'])} {text}"
    return hit_item(ctx, number, hit, Action(str(number), text))


def claim(ctx: Context, guard_token: str, tokens: list[str]) -> Reply | None:
    """Mark the list used, in the command's transaction (a failed command frees it again);
    a Reply when it was used before."""
    key = f"pick:{ctx.actor.staff_id}:{guard_token[len(PREFIX) :]}"
    target = tokens[1] if len(tokens) > 1 else ""
    cid = target[1:] if target.startswith("#") and target[1:].isdigit() else ""
    if first_time(ctx.session, SOURCE, key, f"customer:{cid}"):
        return None
    earlier = ctx.session.scalar(
        select(InboxEvent.kind).where(InboxEvent.source == SOURCE, InboxEvent.event_key == key)
    )
    picked = (earlier or "").removeprefix("customer:")
    customer = ctx.session.get(Customer, int(picked)) if picked.isdigit() else None
    name = (customer.name if customer else None) or (f"#{picked}" if picked else "—")
    return Reply(
        text=ctx.say(
            "这个列表已经选过 {c}，没有再执行。要对另一位客户操作，请重新发送命令。",
            "{c} was already picked from this list; nothing was run again. "
            "To act on another customer, send the command again.",
            c=name,
        )
    )
