""" "Share to channel" posts the reply the user is looking at, not a second run of its
command (a second run would write twice, and a KPI could have moved in between).

The shown reply is kept in the store under a random id for a day; the button carries only
that id. Only a reply the core marks ``shareable`` (KPIs, team, segment counts) is kept.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete

from bot.chat import serialize, state
from bot.chat.types import Reply
from storage.db import Database
from storage.models import ConversationState

CHANNEL = "slack-share"
TTL = 24 * 3600  # seconds


def keep(db: Database, user_id: str, reply: Reply, now: datetime) -> str | None:
    """The share id for ``reply``, or None when it is not to be shared."""
    if not reply.shareable or reply.kind != "ok":
        return None
    share_id = uuid.uuid4().hex
    with db.uow() as uow:
        # Expired answers are dropped here: nothing else reads this channel's rows.
        uow.session.execute(
            delete(ConversationState).where(
                ConversationState.channel == CHANNEL, ConversationState.expires_at <= now
            )
        )
        payload = {"user": user_id, "reply": serialize.to_dict(reply)}
        state.save(uow.session, CHANNEL, share_id, payload, now, TTL)
        uow.commit()
    return share_id


def take(db: Database, user_id: str, share_id: str, now: datetime) -> Reply | None:
    """The reply kept under ``share_id`` for ``user_id``, removed so it is shared once."""
    if not share_id or len(share_id) > 64:
        return None
    with db.uow() as uow:
        payload = state.load(uow.session, CHANNEL, share_id, now)
        if payload is None or payload.get("user") != user_id:
            return None
        state.clear(uow.session, CHANNEL, share_id)
        uow.commit()
    return serialize.from_dict(payload["reply"])
