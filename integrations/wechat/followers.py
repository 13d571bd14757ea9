"""Official Account followers: subscribe, unsubscribe and SCAN events, and their unionid.

The callback only carries the openid (``FromUserName``). The unionid, which is what the same
person's WeCom external contact carries too, comes from ``user/info`` (developers.weixin.qq.com
/doc/offiaccount/User_Management/Getting_user_basic_information; present once the OA is bound
to a WeChat Open Platform account). A follower and a WeCom contact with one unionid become
one customer through ``identity.resolve``.

Events are processed by the outbox worker (kind ``inbound`` on channel "wechat"), so the
callback answers at once and a failed ``user/info`` is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import update

from bot.outbox import Outgoing, Permanent, Retry
from bot.services import identity
from bot.settings import Settings
from integrations.wecom.api import Api, ApiError, NetworkError
from integrations.wecom.tokens import TokenUnavailable, token_store
from storage.db import Database
from storage.models import IdentityKind, WechatFollower
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)


def _secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value or "")


def _at(ts: str | None) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC) if ts and ts.isdigit() else datetime.now(UTC)


class WechatSender:
    def __init__(self, get_db: Callable[[], Database], settings: Settings) -> None:
        self.get_db, self.settings = get_db, settings
        app_id = settings.wechat_app_id or ""
        self.api = Api(
            settings.wechat_api_base,
            app_id=app_id,
            secret=_secret(settings.wechat_secret),
            tokens=token_store(settings.redis_url, get_db),
            token_key=f"wechat:{app_id}",
            token_path="token",
            token_params={
                "grant_type": "client_credential",
                "appid": app_id,
                "secret": _secret(settings.wechat_secret),
            },
        )

    def send(self, message: Outgoing) -> None:
        if message.kind != "inbound":
            raise Permanent(f"unknown wechat outbox kind {message.kind!r}")
        try:
            process(self.get_db(), self.api, message.payload["fields"])
        except ApiError as exc:
            if exc.retryable:
                raise Retry(str(exc)) from exc
            raise Permanent(str(exc)) from exc
        except NetworkError as exc:
            raise Retry(str(exc), ambiguous=exc.ambiguous) from exc
        except TokenUnavailable as exc:
            raise Retry(str(exc), after=1.0) from exc


def process(db: Database, api: Api, fields: dict[str, str]) -> None:
    event = fields.get("Event", "").lower() if fields.get("MsgType") == "event" else ""
    openid = fields.get("FromUserName", "")
    if not openid or event not in ("subscribe", "unsubscribe", "scan"):
        return
    at = _at(fields.get("CreateTime"))
    if event == "unsubscribe":
        with db.uow() as uow:
            insert_ignore(uow.session, WechatFollower, [{"openid": openid}], ["openid"])
            uow.session.execute(
                update(WechatFollower)
                .where(WechatFollower.openid == openid)
                .values(subscribed=False, unsubscribed_at=at)
            )
            uow.commit()
        return
    # subscribe (EventKey "qrscene_<scene>" when through a QR code) or SCAN (EventKey "<scene>")
    scene = fields.get("EventKey", "").removeprefix("qrscene_") or None
    info = api.get("user/info", openid=openid, lang="zh_CN")
    unionid = info.get("unionid") or None
    with db.uow() as uow:
        s = uow.session
        pairs = [(IdentityKind.WECHAT_OPENID.value, openid)]
        if unionid:
            pairs.append((IdentityKind.UNIONID.value, unionid))
        cid = identity.resolve(s, [identity.Claim(pairs=pairs)], reason="wechat unionid").ids[0]
        insert_ignore(s, WechatFollower, [{"openid": openid}], ["openid"])
        values: dict[str, object] = {
            "customer_id": cid,
            "unionid": unionid,
            "subscribed": True,
            "unsubscribed_at": None,
        }
        if scene:
            values["scene"] = scene[:128]
        if event == "subscribe":
            values["subscribed_at"] = at
        s.execute(update(WechatFollower).where(WechatFollower.openid == openid).values(values))
        uow.commit()
