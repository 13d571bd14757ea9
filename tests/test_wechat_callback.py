"""/wechat/callback: Official Account followers, their unionid, and the merge with WeCom."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import time

from sqlalchemy import select

from integrations.wechat.wiring import signature
from storage.models import Customer, CustomerIdentity, WechatFollower
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401


def _oa(wx: Harness, event: str, openid: str, created: int = 0, **fields: str) -> int:
    xml = F.event_xml(event, fields, user=openid, created=created)
    params, body = F.encrypt(xml, corp_id=F.OA_APP_ID, official_account=True)
    ts, nonce = params["timestamp"], params["nonce"]
    params["signature"] = signature(F.TOKEN, ts, nonce)
    return wx.client.post("/wechat/callback", params=params, content=body.encode()).status_code


def _follower(wx: Harness, openid: str) -> WechatFollower | None:
    with wx.db.session() as s:
        return s.get(WechatFollower, openid)


def test_url_verification_echoes_the_echostr(wx: Harness) -> None:
    ts, nonce = str(int(time.time())), "abc"
    params = {"signature": signature(F.TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}
    response = wx.client.get("/wechat/callback", params={**params, "echostr": "hello123"})
    assert response.status_code == 200 and response.text == "hello123"
    params["signature"] = "0" * 40
    assert wx.client.get("/wechat/callback", params={**params, "echostr": "x"}).status_code == 403


def test_a_bad_signature_changes_nothing(wx: Harness) -> None:
    params, body = F.encrypt(F.event_xml("subscribe", {}, user="oX"), official_account=True)
    params["signature"] = "1" * 40
    assert wx.client.post("/wechat/callback", params=params, content=body).status_code == 403
    params["signature"] = signature(F.TOKEN, params["timestamp"], params["nonce"])
    params["msg_signature"] = "2" * 40
    assert wx.client.post("/wechat/callback", params=params, content=body).status_code == 403
    assert wx.inbox_count() == 0


def test_subscribe_merges_the_follower_with_the_wecom_contact(wx: Harness) -> None:
    wx.fake.add_contact("wangfang", "wmU1", "孙八", unionid="oUNION1")
    wx.post(F.contact_xml("add_external_contact", "wangfang", "wmU1"))
    wx.fake.oa_users["oOPEN1"] = {"unionid": "oUNION1", "nickname": "八"}
    # A retry is the same message, CreateTime included (two calls could straddle a second).
    sent = int(time.time())
    assert _oa(wx, "subscribe", "oOPEN1", sent, EventKey="qrscene_store-SH01") == 200
    assert _oa(wx, "subscribe", "oOPEN1", sent, EventKey="qrscene_store-SH01") == 200  # retried
    wx.drain()
    (info,) = wx.fake.calls_to("mp:user/info")
    assert info.params["openid"] == "oOPEN1" and info.params["lang"] == "zh_CN"
    (token,) = wx.fake.calls_to("mp:token")
    assert token.params == {
        "grant_type": "client_credential",
        "appid": F.OA_APP_ID,
        "secret": F.OA_SECRET,
    }
    follower = _follower(wx, "oOPEN1")
    assert follower is not None and follower.subscribed and follower.scene == "store-SH01"
    with wx.db.session() as s:
        owners = set(
            s.scalars(
                select(CustomerIdentity.customer_id).where(
                    CustomerIdentity.value.in_(["wmU1", "oUNION1", "oOPEN1"])
                )
            )
        )
        assert owners == {follower.customer_id}
        assert s.scalar(select(Customer.name).where(Customer.id == follower.customer_id)) == "孙八"


def test_a_follower_first_and_the_contact_later_still_become_one(wx: Harness) -> None:
    wx.fake.oa_users["oOPEN2"] = {"unionid": "oUNION2"}
    _oa(wx, "subscribe", "oOPEN2")
    wx.drain()
    wx.fake.add_contact("wangfang", "wmU2", "周九", unionid="oUNION2")
    wx.post(F.contact_xml("add_external_contact", "wangfang", "wmU2"))
    wx.drain()
    with wx.db.session() as s:
        alive = set(
            s.scalars(
                select(Customer.id).where(Customer.merged_into.is_(None), Customer.name == "周九")
            )
        )
        follower = s.get(WechatFollower, "oOPEN2")
        assert follower is not None
        ext_owner = s.scalar(
            select(CustomerIdentity.customer_id).where(CustomerIdentity.value == "wmU2")
        )
    assert alive == {ext_owner} and follower.customer_id == ext_owner


def test_unsubscribe_and_scan(wx: Harness) -> None:
    wx.fake.oa_users["oOPEN3"] = {}
    now = int(time.time())
    _oa(wx, "subscribe", "oOPEN3", created=now)
    _oa(wx, "unsubscribe", "oOPEN3", created=now + 1)
    wx.drain()
    follower = _follower(wx, "oOPEN3")
    assert follower is not None and not follower.subscribed and follower.unsubscribed_at
    assert follower.unionid is None  # OA not bound to an Open Platform account
    _oa(wx, "SCAN", "oOPEN3", created=now + 2, EventKey="counter-2")
    wx.drain()
    follower = _follower(wx, "oOPEN3")
    assert follower is not None and follower.subscribed and follower.scene == "counter-2"
