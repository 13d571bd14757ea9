"""Process a queued WeCom callback: chat text, card clicks, contact and tag changes.

Runs in the outbox worker, after ``/wecom/callback`` has answered. Processing is idempotent
per event: every push it queues is keyed by the event's inbox key, so a crash between
processing and marking the inbound row done replays into no-ops (a chat command itself runs
in the dispatcher's own transaction and, in that narrow window, could run twice).
"""

from __future__ import annotations

import base64
import logging

from sqlalchemy.orm import Session

from bot.chat.types import Channel, IncomingMessage, Reply
from bot.outbox import enqueue
from integrations.wecom.render import OutgoingImage, decode_button_key, make_task_id, render
from integrations.wecom.sender import WecomContext

log = logging.getLogger(__name__)

# Guides read replies in the WeCom app, which renders markdown; the WeChat plug-in
# (微信插件) would show markdown as "please view in WeCom", so text is the fallback.
REPLY_FORMAT = "markdown"
CARD_DONE = "✓ 已处理"
CARD_FAILED = "未完成，见消息"


def process(ctx: WecomContext, fields: dict[str, str], key: str) -> None:
    msg_type = fields.get("MsgType", "")
    event = fields.get("Event", "")
    if msg_type == "text":
        chat(ctx, fields.get("FromUserName", ""), fields.get("Content", ""), key)
    elif msg_type == "event" and event == "template_card_event":
        click(ctx, fields, key)
    elif msg_type == "event" and event == "change_external_contact":
        from integrations.wecom.contacts import on_contact_event

        on_contact_event(ctx, fields, key)
    elif msg_type == "event" and event == "change_external_tag":
        from integrations.wecom.tags import on_tag_event

        on_tag_event(ctx, fields)
    else:
        log.debug("wecom %s/%s ignored", msg_type, event)


def chat(ctx: WecomContext, userid: str, text: str, key: str) -> None:
    if not userid:
        return
    reply = ctx.dispatcher.handle(IncomingMessage(Channel.WECOM, userid, text))
    with ctx.db.uow() as uow:
        enqueue_reply(uow.session, userid, reply, key)
        uow.commit()


def click(ctx: WecomContext, fields: dict[str, str], key: str) -> None:
    """A button on a template card: run its command, answer, and mark the card."""
    userid = fields.get("FromUserName", "")
    command = decode_button_key(fields.get("EventKey", ""))
    if not userid or command is None:
        log.info("wecom card click with a key that is not ours: %r", fields.get("EventKey"))
        return
    reply = ctx.dispatcher.handle(IncomingMessage(Channel.WECOM, userid, command))
    with ctx.db.uow() as uow:
        enqueue_reply(uow.session, userid, reply, key)
        # The response code comes with the click, works once and for 72 h
        # (message/update_template_card, developer.work.weixin.qq.com/document/path/94888).
        code = fields.get("ResponseCode", "")
        if code:
            enqueue(
                uow.session,
                channel="wecom",
                kind="card_update",
                target=userid,
                payload={
                    "response_code": code,
                    "replace_name": CARD_DONE if reply.kind == "ok" else CARD_FAILED,
                },
                key=f"wecom-card:{key}",
            )
        uow.commit()


def enqueue_reply(session: Session, userid: str, reply: Reply, key: str) -> None:
    """Queue everything ``reply`` renders to (text chunks, a chart, button cards), in order.

    Each push's key derives from the event's key, so processing the event again is a no-op;
    the cards' task ids derive from it too (WeCom wants them unique per app).
    """
    base = f"wecom-out:{key}"
    outs = render(reply, fmt=REPLY_FORMAT, task_id=make_task_id(base))  # type: ignore[arg-type]
    for i, out in enumerate(outs):
        if isinstance(out, OutgoingImage):
            kind, payload = "image", {"png": base64.b64encode(out.png).decode(), "alt": out.alt}
        else:
            kind, payload = "message", out
        enqueue(
            session, channel="wecom", kind=kind, target=userid, payload=payload, key=f"{base}:{i}"
        )
