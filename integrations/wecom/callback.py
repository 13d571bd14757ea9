"""``GET|POST /wecom/callback``: verify, decrypt, record once, answer fast.

WeCom's callback protocol (developer.work.weixin.qq.com/document/path/90930, 接收消息与事件;
path/90968, 加解密方案): the URL carries ``msg_signature``, ``timestamp`` and ``nonce``;
``msg_signature`` is SHA1 over the sorted (token, timestamp, nonce, Encrypt); Encrypt is
AES-256-CBC of random(16) + length(4) + XML + corp id. GET (URL verification) carries an
``echostr`` to decrypt and answer as plain text. WeCom waits 5 s and retries up to three
times, so the handler only authenticates, records the event in the inbox and queues it in
the outbox (kind ``inbound``) in one transaction; the outbox pump processes it afterwards.

Anything that fails authentication or parsing is answered 4xx and changes nothing.
(The inbox row is written like ``bot.inbox.first_time`` does, batched: see ``Recorder``.)
"""

from __future__ import annotations

import binascii
import hashlib
import logging
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict  # type: ignore[import-untyped]
from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from wechatpy.exceptions import WeChatException

from bot.metrics import Metrics
from bot.outbox import enqueue
from storage.db import Database
from storage.models import InboxEvent
from storage.upsert import insert_ignore_returning

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024  # a callback envelope is a few KB; anything bigger is not WeCom
MAX_SKEW = 300  # seconds: WeCom's own timestamps; an older one is a replay

# wechatpy lets these escape from decryption and parsing of hostile input: a wrong key gives
# garbage padding (struct.error, UnicodeDecodeError, ValueError), a wrong corp id
# InvalidCorpIdException, bad base64 binascii.Error, bad XML ExpatError, a missing element
# KeyError/TypeError.
DECRYPT_ERRORS = (
    WeChatException,
    struct.error,
    UnicodeDecodeError,
    ValueError,
    binascii.Error,
    ExpatError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
)


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Event:
    """A decrypted callback: flat XML fields, and the key that makes it unique."""

    fields: dict[str, str]
    key: str

    @property
    def kind(self) -> str:
        f = self.fields
        kind = f.get("MsgType", "")
        if kind == "event":
            kind = f.get("Event", "")
            if f.get("ChangeType"):
                kind += "." + f["ChangeType"]
        return kind[:64]


def check_timestamp(timestamp: str, now: float | None = None) -> None:
    if not timestamp.isdigit():
        raise Rejected(400, "timestamp is not a number")
    if abs((now or time.time()) - int(timestamp)) > MAX_SKEW:
        raise Rejected(403, "timestamp outside the 5-minute window")


def check_body(body: bytes) -> None:
    if len(body) > MAX_BODY:
        raise Rejected(413, f"callback body over {MAX_BODY} bytes")
    # Entity declarations (billion laughs, external entities) have no place in a callback.
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise Rejected(400, "XML with a DTD is refused")


def parse_fields(xml: str) -> dict[str, str]:
    """The decrypted XML as a flat dict of strings (callbacks are one level deep)."""
    if "<!DOCTYPE" in xml.upper() or "<!ENTITY" in xml.upper():
        raise Rejected(400, "XML with a DTD is refused")
    try:
        root = xmltodict.parse(xml)["xml"]
    except DECRYPT_ERRORS as exc:
        raise Rejected(400, f"malformed XML: {type(exc).__name__}") from exc
    if not isinstance(root, dict):
        raise Rejected(400, "empty XML")
    return {k: v if isinstance(v, str) else "" if v is None else str(v) for k, v in root.items()}


def event_key(fields: dict[str, str], xml: str) -> str:
    """MsgId when WeCom gives a non-zero one; otherwise a hash of the decrypted XML.

    Customer-contact events all come ``FromUserName`` sys with no MsgId, so sender plus
    CreateTime collides when several land in the same second; the whole XML does not.
    """
    msg_id = fields.get("MsgId", "").strip()
    if msg_id and msg_id != "0":
        return f"msg:{msg_id}"
    return "xml:" + hashlib.sha256(xml.encode("utf-8")).hexdigest()


def record(db: Database, source: str, event: Event) -> bool:
    """Record the event once and queue it for processing; False when it was seen before."""
    return _write(db, [(source, event)])[0]


def _write(db: Database, batch: list[tuple[str, Event]]) -> list[bool]:
    with db.uow() as uow:
        inserted = {
            (row.source, row.event_key)
            for row in insert_ignore_returning(
                uow.session,
                InboxEvent,
                [{"source": src, "event_key": e.key[:128], "kind": e.kind} for src, e in batch],
                ["source", "event_key"],
                InboxEvent.source,
                InboxEvent.event_key,
            )
        }
        fresh = []
        for src, e in batch:
            first = (src, e.key[:128]) in inserted
            inserted.discard((src, e.key[:128]))  # a repeat inside one batch is a duplicate
            fresh.append(first)
            if first:
                enqueue(
                    uow.session,
                    channel=src,
                    kind="inbound",
                    target=e.fields.get("FromUserName", "")[:200] or "-",
                    payload={"fields": e.fields, "key": e.key},
                    key=f"{src}-in:{e.key}",
                )
        uow.commit()
    return fresh


class Recorder:
    """Group commit for the inbox: callbacks arriving together share one transaction.

    Each callback costs one small write; under a burst, one transaction per callback makes
    the writers queue on the database lock (SQLite's busy handler sleeps between polls).
    Whoever finds no writer active writes everything waiting, up to ``max_batch``, and the
    others wait for their result, so latency stays about one transaction.
    """

    def __init__(self, db: Database, max_batch: int = 200) -> None:
        self.db, self.max_batch = db, max_batch
        self._cond = threading.Condition()
        self._pending: list[_Item] = []
        self._writing = False

    def record(self, source: str, event: Event) -> bool:
        item = _Item(source, event)
        with self._cond:
            self._pending.append(item)
            while not item.done:
                if self._writing:
                    self._cond.wait()
                    continue
                self._writing = True
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                self._cond.release()
                try:
                    results = _write(self.db, [(i.source, i.event) for i in batch])
                    for i, fresh in zip(batch, results, strict=True):
                        i.fresh = fresh
                except BaseException as exc:
                    for i in batch:
                        i.error = exc
                finally:
                    self._cond.acquire()
                    self._writing = False
                    for i in batch:
                        i.done = True
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.fresh


@dataclass
class _Item:
    source: str
    event: Event
    fresh: bool = False
    done: bool = False
    error: BaseException | None = None


_RECORDERS_LOCK = threading.Lock()


def recorder(app_state: Any) -> Recorder:
    """One recorder per app (shared by /wecom and /wechat), built on first use."""
    with _RECORDERS_LOCK:
        found = getattr(app_state, "inbox_recorder", None)
        if found is None or found.db is not app_state.db:
            found = app_state.inbox_recorder = Recorder(app_state.db)
        return found


async def receive(
    request: Request,
    source: str,
    decrypt: Callable[[dict[str, str], bytes], str],
) -> Response:
    """Shared POST flow for WeCom and the Official Account."""
    metrics: Metrics = request.app.state.metrics
    body = await request.body()
    params = dict(request.query_params)

    def work() -> bool:
        check_body(body)
        xml = decrypt(params, body)
        fields = parse_fields(xml)
        if not fields.get("MsgType"):
            raise Rejected(400, "callback without MsgType")
        return recorder(request.app.state).record(source, Event(fields, event_key(fields, xml)))

    try:
        fresh = await run_in_threadpool(work)
    except Rejected as exc:
        metrics.inbound.labels(source, "rejected").inc()
        log.warning("%s callback rejected: %s", source, exc)
        return PlainTextResponse(str(exc), status_code=exc.status)
    metrics.inbound.labels(source, "processed" if fresh else "duplicate").inc()
    # WeCom treats any 200 as delivered; an empty body means "no passive reply".
    return PlainTextResponse("")


def query(params: dict[str, Any], *names: str) -> list[str]:
    values = [params.get(n) for n in names]
    if not all(isinstance(v, str) and v for v in values):
        raise Rejected(
            400, "missing " + ", ".join(n for n, v in zip(names, values, strict=True) if not v)
        )
    return [str(v) for v in values]
