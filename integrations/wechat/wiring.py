"""Mount the Official Account: ``GET|POST /wechat/callback`` and the "wechat" outbox sender.

The OA callback (developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview,
and Message_Management/Message_encryption): ``signature`` is SHA1 over the sorted (token,
timestamp, nonce); GET echoes ``echostr`` as plain text. In safe mode (``encrypt_type=aes``,
needs ``SCRM_WECHAT_AES_KEY``) the body is encrypted like WeCom's, signed by
``msg_signature``; in plain mode the body is XML and only ``signature`` protects it.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import WeChatSigner

from bot.outbox import Sender
from bot.settings import Settings
from integrations.wechat.followers import WechatSender
from integrations.wecom.callback import (
    DECRYPT_ERRORS,
    Rejected,
    check_timestamp,
    query,
    receive,
)


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value or "")


def signature(token: str, timestamp: str, nonce: str) -> str:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return str(signer.signature)


def mount(app: FastAPI, settings: Settings) -> Sender:
    token = _secret(settings.wechat_token)
    aes_key = _secret(settings.wechat_aes_key)
    crypto = WeChatCrypto(token, aes_key, settings.wechat_app_id) if aes_key else None
    router = APIRouter(tags=["wechat"])

    def check(params: dict[str, str]) -> None:
        sig, timestamp, nonce = query(params, "signature", "timestamp", "nonce")
        check_timestamp(timestamp)
        if not hmac.compare_digest(sig, signature(token, timestamp, nonce)):
            raise Rejected(403, "bad signature")

    @router.get("/wechat/callback", response_class=PlainTextResponse)
    async def verify_url(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            check(params)
            (echostr,) = query(params, "echostr")
        except Rejected as exc:
            request.app.state.metrics.inbound.labels("wechat", "rejected").inc()
            return PlainTextResponse(str(exc), status_code=exc.status)
        return PlainTextResponse(echostr)

    def decrypt(params: dict[str, str], body: bytes) -> str:
        check(params)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected(400, "body is not UTF-8") from exc
        if params.get("encrypt_type", "raw") == "raw":
            if crypto is not None:
                raise Rejected(403, "plain callback refused: safe mode is configured")
            return text
        if crypto is None:
            raise Rejected(400, "encrypted callback but SCRM_WECHAT_AES_KEY is not set")
        (msg_signature,) = query(params, "msg_signature")
        try:
            return str(
                crypto.decrypt_message(text, msg_signature, params["timestamp"], params["nonce"])
            )
        except InvalidSignatureException as exc:
            raise Rejected(403, "bad signature") from exc
        except DECRYPT_ERRORS as exc:
            raise Rejected(403, f"cannot decrypt ({type(exc).__name__})") from exc

    @router.post("/wechat/callback", response_class=PlainTextResponse)
    async def callback(request: Request) -> Response:
        return await receive(request, "wechat", decrypt)

    app.include_router(router)
    return WechatSender(lambda: app.state.db, settings)
