"""The outbox sender for channel "wecom": every WeCom API call the product makes at run time.

Kinds (the outbox row's ``kind``):

- ``inbound``: a callback queued by ``/wecom/callback``; processed here, after the HTTP
  answer (chat commands, card clicks, customer-contact and tag changes);
- ``reply``: ``{"reply": <bot.chat.serialize>}``, a neutral Reply pushed by the scheduler
  (task lists, summaries); rendered here into markdown chunks, a chart and button cards;
- ``message``: an application message body (text, markdown, template_card) for ``target``;
- ``text``: ``{"text": ...}``, a plain notice (alerts) for ``target``;
- ``image``: ``{"png": base64, "alt": ...}``; uploaded with ``media/upload``, then sent;
- ``card_update``: ``{"response_code", "replace_name"}`` after a button click;
- ``mark_tag``: ``{"customer_id", "tags": [local tag ids]}`` (see ``integrations.wecom.tags``).

The pump calls ``send`` from a worker thread, so blocking HTTP is fine here. Failures become
``Retry`` (-1, 45009, 45033, network: the worker backs off with jitter until the push
expires) or ``Permanent`` (48002, 60011, 81013, …). A ``reply`` of several messages reports
each delivered part to the outbox and resumes at the first one not confirmed; a part whose
answer was lost is resent byte for byte, which WeCom's duplicate check drops if it did
arrive, but only while that check remembers it: past its window the push is dead-lettered
with a sentence saying which part may be missing, rather than risk a double.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from bot.chat.dispatch import Dispatcher
from bot.outbox import Outgoing, Permanent, Retry
from bot.settings import Settings
from integrations.wecom import handover
from integrations.wecom.api import Api, ApiError, NetworkError
from integrations.wecom.tokens import TokenUnavailable, token_store
from storage.db import Database
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

# WeCom drops a message whose request JSON equals one sent within the interval (message/send,
# "enable_duplicate_check"; default 1800 s, at most 4 h). A retry after a lost answer resends
# the identical JSON and is dropped, which is what makes delivery exactly-once. Two different
# pushes with the same text (a guide asking "tasks" twice) must still both arrive, so the
# interval itself varies with the outbox key over 1800 s (the default, which covers the
# outbox's whole retry schedule) to 4 h (the maximum): their JSON then differs, except for
# one pair in 12 600, while every retry of one push stays byte-identical.
DUP_INTERVAL_MIN, DUP_INTERVAL_SPAN = 1800, 4 * 3600 - 1800
# A resend must reach WeCom well inside the window of the first copy.
DUP_MARGIN = timedelta(seconds=120)


def dup_interval(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return DUP_INTERVAL_MIN + int.from_bytes(digest[:4], "big") % DUP_INTERVAL_SPAN


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value or "")


@dataclass
class WecomContext:
    """What processing and sending need: the store, settings and the two API secrets."""

    get_db: Callable[[], Database]
    settings: Settings
    app_api: Api
    contact_api: Api
    _dispatcher: Dispatcher | None = field(default=None, repr=False)

    @classmethod
    def build(cls, get_db: Callable[[], Database], settings: Settings) -> WecomContext:
        corp = settings.wecom_corp_id or ""
        tokens = token_store(settings.redis_url, get_db)
        app_api = Api(
            settings.wecom_api_base,
            app_id=corp,
            secret=_secret(settings.wecom_secret),
            tokens=tokens,
            token_key=f"wecom:{corp}:{settings.wecom_agent_id}",
        )
        # A self-built app granted customer-contact access may use its own secret; the
        # dedicated 客户联系 secret is used when configured (docs/wecom.md).
        contact_secret = _secret(settings.wecom_contact_secret) or _secret(settings.wecom_secret)
        contact_api = (
            Api(
                settings.wecom_api_base,
                app_id=corp,
                secret=contact_secret,
                tokens=tokens,
                token_key=f"wecom:{corp}:contact",
            )
            if settings.wecom_contact_secret
            else app_api
        )
        return cls(get_db, settings, app_api, contact_api)

    @property
    def db(self) -> Database:
        return self.get_db()

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(self.db, self.settings)
        return self._dispatcher

    @property
    def agent_id(self) -> int:
        return int(self.settings.wecom_agent_id or 0)


class WecomSender:
    def __init__(self, ctx: WecomContext) -> None:
        self.ctx = ctx

    def send(self, message: Outgoing) -> None:
        handler = _KINDS.get(message.kind)
        if handler is None:
            raise Permanent(f"unknown wecom outbox kind {message.kind!r}")
        prefix = ""
        try:
            try:
                handler(self, message)
            except _PartFailed as failed:
                prefix = failed.prefix
                assert failed.__cause__ is not None
                raise failed.__cause__ from None
        except ApiError as exc:
            if exc.retryable:
                raise Retry(prefix + str(exc)) from exc
            raise Permanent(prefix + str(exc)) from exc
        except NetworkError as exc:
            raise Retry(prefix + str(exc), ambiguous=exc.ambiguous) from exc
        except TokenUnavailable as exc:
            raise Retry(prefix + str(exc), after=1.0) from exc

    # --- kinds ----------------------------------------------------------------------------

    def _inbound(self, m: Outgoing) -> None:
        from integrations.wecom.events import process

        process(self.ctx, m.payload["fields"], m.payload["key"])

    def post_message(self, m: Outgoing, body: dict[str, Any]) -> dict[str, Any]:
        request = {
            "touser": m.target,
            "agentid": self.ctx.agent_id,
            **body,
            "enable_duplicate_check": 1,
            "duplicate_check_interval": dup_interval(m.key),
        }
        result = self.ctx.app_api.post("message/send", request)
        invalid = result.get("invaliduser") or ""
        if invalid:
            # Partial success (errcode 0): the others got it; retrying cannot reach these.
            log.warning("wecom %s: not delivered to %s (not in the app's range)", m.key, invalid)
        return result

    def _reply(self, m: Outgoing) -> None:
        from bot.chat.serialize import from_dict
        from integrations.wecom.events import REPLY_FORMAT
        from integrations.wecom.render import OutgoingImage, make_task_id, render

        reply = from_dict(m.payload["reply"])
        outs = render(reply, fmt=REPLY_FORMAT, task_id=make_task_id(f"wecom-out:{m.key}"))  # type: ignore[arg-type]
        media: dict[str, str] = dict(m.payload.get("media") or {})
        # One row, several messages: each confirmed part is recorded, and a retry resumes
        # at the first unconfirmed one (an attempt of the whole list at a 30% fault rate
        # would rarely get through).
        total = len(outs)
        for i in range(min(m.parts_sent, total), total):
            out = outs[i]
            part = replace(m, key=f"{m.key}:{i}")
            prefix = f"part {i + 1} of {total}: "
            if i == m.parts_sent:
                self._check_window(m, part.key, prefix)
            try:
                if isinstance(out, OutgoingImage):
                    if str(i) not in media:
                        media[str(i)] = self._upload(out.png)
                        self._keep(m, {**m.payload, "media": media})
                    self.post_message(part, out.payload(media[str(i)]))
                else:
                    self.post_message(part, out)
            except (ApiError, NetworkError, TokenUnavailable) as exc:
                raise _PartFailed(prefix) from exc
            m.progress(i + 1)

    def _check_window(self, m: Outgoing, part_key: str, prefix: str) -> None:
        """Refuse to resend a part that may have arrived once WeCom's duplicate check has
        forgotten it: it would then arrive twice."""
        if m.maybe_sent_at is None or m.claimed_at is None:
            return
        window = timedelta(seconds=dup_interval(part_key))
        if m.claimed_at - m.maybe_sent_at > window - DUP_MARGIN:
            raise Permanent(
                f"{prefix}may have arrived at {m.maybe_sent_at:%Y-%m-%d %H:%M:%S} UTC (the "
                f"answer was lost) and WeCom's duplicate check ({window.seconds} s) no longer "
                f"covers a resend; {m.parts_sent} earlier part(s) arrived, the rest were not "
                "sent, to avoid a double"
            )

    def _upload(self, png: bytes) -> str:
        result = self.ctx.app_api.call(
            "post",
            "media/upload",
            params={"type": "image"},
            files={"media": ("chart.png", png, "image/png")},
        )
        return str(result["media_id"])

    def _keep(self, m: Outgoing, payload: dict[str, Any]) -> None:
        """Save what a retry must reuse (media ids, valid 3 days) into the outbox row, so
        the retry resends the same JSON, which the duplicate check recognises."""
        with self.ctx.db.uow() as uow:
            uow.session.execute(
                update(OutboxMessage).where(OutboxMessage.id == m.id).values(payload=payload)
            )
            uow.commit()

    def _message(self, m: Outgoing) -> None:
        self._check_window(m, m.key, "")
        self.post_message(m, m.payload)

    def _text(self, m: Outgoing) -> None:
        self._check_window(m, m.key, "")
        self.post_message(m, {"msgtype": "text", "text": {"content": m.payload["text"]}})

    def _image(self, m: Outgoing) -> None:
        self._check_window(m, m.key, "")
        media_id = m.payload.get("media_id")
        if not media_id:
            media_id = self._upload(base64.b64decode(m.payload["png"]))
            self._keep(m, {**m.payload, "media_id": media_id})
        self.post_message(m, {"msgtype": "image", "image": {"media_id": media_id}})

    def _card_update(self, m: Outgoing) -> None:
        self.ctx.app_api.post(
            "message/update_template_card",
            {
                "userids": [m.target],
                "agentid": self.ctx.agent_id,
                "response_code": m.payload["response_code"],
                "button": {"replace_name": m.payload["replace_name"]},
            },
        )

    def _mark_tag(self, m: Outgoing) -> None:
        from integrations.wecom.tags import push_customer_tags

        push_customer_tags(self.ctx, int(m.payload["customer_id"]), m.payload.get("tags"))


class _PartFailed(Exception):
    """Carries which part of a multi-message push failed; the cause is the real error."""

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix)
        self.prefix = prefix


_KINDS: dict[str, Callable[[WecomSender, Outgoing], None]] = {
    "inbound": WecomSender._inbound,
    "reply": WecomSender._reply,
    "message": WecomSender._message,
    "text": WecomSender._text,
    "image": WecomSender._image,
    "card_update": WecomSender._card_update,
    "mark_tag": WecomSender._mark_tag,
    "transfer": handover.transfer,
    "transfer_check": handover.check,
}
