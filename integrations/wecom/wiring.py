"""Mount WeCom on the app: the callback routes, and the outbox sender for channel "wecom"."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from wechatpy.enterprise.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException

from bot.outbox import Sender
from bot.settings import Settings
from integrations.wecom.callback import (
    DECRYPT_ERRORS,
    Rejected,
    check_timestamp,
    query,
    receive,
)
from integrations.wecom.sender import WecomContext, WecomSender
from storage.db import Database


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value or "")


def make_crypto(settings: Settings) -> WeChatCrypto:
    return WeChatCrypto(
        _secret(settings.wecom_token), _secret(settings.wecom_aes_key), settings.wecom_corp_id
    )


def _decrypt_or_reject(call: object, *args: str) -> str:
    try:
        return str(call(*args))  # type: ignore[operator]
    except InvalidSignatureException as exc:
        raise Rejected(403, "bad signature") from exc
    except DECRYPT_ERRORS as exc:
        # A wrong AES key or corp id decrypts to garbage rather than failing cleanly.
        raise Rejected(403, f"cannot decrypt ({type(exc).__name__})") from exc


def mount(app: FastAPI, settings: Settings) -> Sender:
    crypto = make_crypto(settings)
    router = APIRouter(tags=["wecom"])

    @router.get("/wecom/callback", response_class=PlainTextResponse)
    async def verify_url(request: Request) -> Response:
        """URL verification: answer the decrypted ``echostr`` as plain text."""
        params = dict(request.query_params)
        try:
            signature, timestamp, nonce, echostr = query(
                params, "msg_signature", "timestamp", "nonce", "echostr"
            )
            check_timestamp(timestamp)
            plain = await run_in_threadpool(
                _decrypt_or_reject, crypto.check_signature, signature, timestamp, nonce, echostr
            )
        except Rejected as exc:
            request.app.state.metrics.inbound.labels("wecom", "rejected").inc()
            return PlainTextResponse(str(exc), status_code=exc.status)
        return PlainTextResponse(plain)

    def decrypt(params: dict[str, str], body: bytes) -> str:
        signature, timestamp, nonce = query(params, "msg_signature", "timestamp", "nonce")
        check_timestamp(timestamp)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected(400, "body is not UTF-8") from exc
        return _decrypt_or_reject(crypto.decrypt_message, text, signature, timestamp, nonce)

    @router.post("/wecom/callback", response_class=PlainTextResponse)
    async def callback(request: Request) -> Response:
        return await receive(request, "wecom", decrypt)

    app.include_router(router)
    hooks = getattr(app.state, "hooks", None)
    if isinstance(hooks, dict):
        hooks["wecom_reconcile"] = nightly_reconcile_hook  # the scheduler's nightly job
    return WecomSender(WecomContext.build(lambda: app.state.db, settings))


def nightly_reconcile_hook(db: Database, settings: Settings) -> str:
    from integrations.wecom.tags import nightly_reconcile

    return "; ".join(nightly_reconcile(db, settings).lines()[:4])
