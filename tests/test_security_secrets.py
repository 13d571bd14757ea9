"""No secret, token or AES key is ever stored or logged (docs/security.md, "Secrets").

The WeCom and Official Account clients are driven through their real paths (encrypted
callbacks, the outbox worker) against the fake WeCom, which is then shut down: every call
meets a closed port, and requests' error texts carry the full URL with ``corpsecret=`` or
``access_token=``. With DEBUG logging on, urllib3 also logs every request line.
"""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from bot import redact
from bot.settings import Settings
from integrations.wechat.wiring import signature
from storage.models import ApiToken, OutboxMessage
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401

SECRETS = [F.APP_SECRET, F.CONTACT_SECRET, F.OA_SECRET, F.AES_KEY, F.TOKEN]


def _seed(wx: Harness) -> None:
    wx.api("stores", [{"code": "SH01", "name": "上海店"}])
    wx.api(
        "staff",
        [
            {
                "code": "G01",
                "name": "王芳",
                "role": "guide",
                "store": "SH01",
                "wecom_userid": "wangfang",
            }
        ],
    )


def _leaks(text: str, wx: Harness) -> list[str]:
    issued = list(wx.fake._tokens)
    return [s for s in SECRETS + issued if s in text]


def test_a_closed_port_leaves_no_secret_in_the_outbox_or_the_debug_log(
    wx: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _seed(wx)
    wx.say("wangfang", "help")
    wx.drain()  # a token is fetched and the reply delivered, request lines logged at DEBUG
    assert wx.fake.sent_to("wangfang") and wx.fake._tokens
    wx.fake.stop()  # from here on every call meets a closed port
    wx.say("wangfang", "tasks")  # message/send?access_token=… fails
    wx.drain(rounds=5000)  # every retry until the push expires
    with wx.db.uow() as uow:  # and a token refresh: gettoken?corpsecret=… fails
        uow.session.execute(update(ApiToken).values(expires_at=None))
        uow.commit()
    wx.say("wangfang", "help")
    wx.drain(rounds=5000)  # every retry until the push expires
    # The Official Account client shares the code: token?secret=… fails too.
    xml = F.event_xml("subscribe", {}, user="oSECRET1")
    params, body = F.encrypt(xml, corp_id=F.OA_APP_ID, official_account=True)
    params["signature"] = signature(F.TOKEN, params["timestamp"], params["nonce"])
    assert (
        wx.client.post("/wechat/callback", params=params, content=body.encode()).status_code == 200
    )
    wx.drain(rounds=5000)  # every retry until the push expires

    with wx.db.session() as s:
        # Retried until each push is worthless, then given up on: nothing is left pending.
        rows = s.scalars(select(OutboxMessage)).all()
        failed = [m for m in rows if m.status in ("dead", "expired")]
        errors = [m.last_error or "" for m in failed]
    assert {m.status for m in rows} <= {"sent", "dead", "expired"}
    assert len(failed) >= 3 and all(e.startswith("expired at") for e in errors)
    # A refused connection never carried the request, so it is not a "maybe delivered".
    assert not any("may have arrived" in e or "ambiguous" in e for e in errors)
    joined = "\n".join(errors)
    assert "message/send" in joined and "gettoken" in joined and "token" in joined
    assert "Connection refused" in joined or "Max retries" in joined  # the real failure text
    assert "[redacted]" in joined
    assert _leaks(joined, wx) == []
    log = caplog.text
    assert "outbox expired" in log and "HTTP/1.1" in log  # WARNING and DEBUG lines seen
    assert _leaks(log, wx) == []
    assert "corpsecret=[redacted]" in log and "access_token=[redacted]" in log


def test_the_settings_repr_shows_no_secret(database_url: str, fake: F.FakeWecom) -> None:
    from tests.fakes.wecom_harness import wecom_settings

    s = wecom_settings(
        "postgresql://scrm:hunter2-db-password@db.internal/scrm",
        fake,
        redis_url="redis://:redis-pass-123456@cache:6379/0",
        slack_bot_token="xoxb-1234-5678-abcdefabcdef",
    )
    text = repr(s) + str(s) + repr(s.api_tokens)
    for secret in [*SECRETS, "hunter2-db-password", "redis-pass-123456", "xoxb-1234-5678"]:
        assert secret not in text
    assert "db.internal" in text  # the host is still there to debug with


def test_redaction_scrubs_urls_bearers_and_registered_values() -> None:
    redact.register(["s3cr3t-value-xyz"])
    line = (
        "GET /cgi-bin/gettoken?corpid=ww1&corpsecret=abc123 and message/send?access_token=t0k"
        " Authorization: Bearer abcdefghijklmnopqrstuvwx, basic information, {'secret': 'zzz'} s3cr3t-value-xyz 13812345678"
    )
    out = redact.text(line, phones=True)
    assert "basic information" in out
    for gone in ("abc123", "t0k", "abcdefghijklmnop", "zzz", "s3cr3t-value-xyz", "13812345678"):
        assert gone not in out
    assert "corpid=ww1" in out and "****5678" in out


def test_uvicorn_access_lines_lose_their_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redact.install()
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d',
        "1.2.3.4:5",
        "GET",
        "/api/v1/customers?kind=phone&value=13812345678",
        "1.1",
        200,
    )
    assert "13812345678" not in caplog.text
    assert "/api/v1/customers?[redacted]" in caplog.text


def test_a_settings_object_registers_its_secrets(database_url: str) -> None:
    Settings(_env_file=None, slack_signing_secret="sign-0123456789-abcdef")  # type: ignore[call-arg]
    assert redact.text("x sign-0123456789-abcdef y") == "x [redacted] y"
