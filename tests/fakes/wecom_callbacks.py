"""Inbound callbacks as WeCom (and the Official Account) send them, encrypted with wechatpy's
real crypto, and the fake tenant's credentials."""

from __future__ import annotations

import re
import time

from wechatpy.crypto import WeChatCrypto as OACrypto
from wechatpy.enterprise.crypto import WeChatCrypto

CORP_ID = "wwfake0corp"
AGENT_ID = 1000002
APP_SECRET = "fake-app-secret"
CONTACT_SECRET = "fake-contact-secret"
TOKEN = "fakeCallbackToken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 chars, as WeCom issues them
OA_APP_ID = "wxfakeoa0001"
OA_SECRET = "fake-oa-secret"


def encrypt(
    xml: str,
    *,
    token: str = TOKEN,
    aes_key: str = AES_KEY,
    corp_id: str = CORP_ID,
    timestamp: int | None = None,
    nonce: str = "n0nce",
    official_account: bool = False,
) -> tuple[dict[str, str], str]:
    """(query params, body) of a callback POST, as WeCom (or the OA in safe mode) sends it."""
    crypto_cls = OACrypto if official_account else WeChatCrypto
    crypto = crypto_cls(token, aes_key, corp_id)
    ts = str(timestamp if timestamp is not None else int(time.time()))
    envelope = crypto.encrypt_message(xml, nonce, ts)
    encrypted = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", envelope)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", envelope)
    assert encrypted and signature
    body = (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        f"<AgentID><![CDATA[{AGENT_ID}]]></AgentID>"
        f"<Encrypt><![CDATA[{encrypted.group(1)}]]></Encrypt></xml>"
    )
    params = {"msg_signature": signature.group(1), "timestamp": ts, "nonce": nonce}
    if official_account:
        params["encrypt_type"] = "aes"
    return params, body


def text_xml(user: str, content: str, msg_id: int, *, created: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>"
    )


def event_xml(event: str, fields: dict[str, str], *, user: str = "sys", created: int = 0) -> str:
    extra = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"{extra}</xml>"
    )


def contact_xml(change: str, userid: str, ext: str, *, created: int = 0, **more: str) -> str:
    return event_xml(
        "change_external_contact",
        {"ChangeType": change, "UserID": userid, "ExternalUserID": ext, **more},
        created=created,
    )
