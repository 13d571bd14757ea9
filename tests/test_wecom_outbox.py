"""The WeCom sender under the outbox: tokens, error codes, retries, exactly-once delivery."""

# ruff: noqa: F811  (the fixtures imported from tests.fakes.wecom_harness are parameters)

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from bot.outbox import enqueue
from integrations.wecom.api import Api
from integrations.wecom.sender import dup_interval
from integrations.wecom.tokens import DbTokens, RedisTokens, TokenStore
from storage.db import Database
from tests.fakes import wecom as F
from tests.fakes.wecom_harness import Harness, fake, wx  # noqa: F401


def _text(wx: Harness, n: int, to: str = "wangfang", prefix: str = "m") -> None:
    with wx.db.uow() as uow:
        for i in range(n):
            enqueue(
                uow.session,
                channel="wecom",
                kind="text",
                target=to,
                payload={"text": f"{prefix} {i}"},
                key=f"test:{prefix}:{i}",
            )
        uow.commit()


def test_the_exact_message_send_payload(wx: Harness) -> None:
    _text(wx, 1)
    wx.drain()
    (call,) = wx.fake.calls_to("message/send")
    assert call.body == {
        "touser": "wangfang",
        "agentid": F.AGENT_ID,
        "msgtype": "text",
        "text": {"content": "m 0"},
        "enable_duplicate_check": 1,
        "duplicate_check_interval": dup_interval("test:m:0"),
    }
    assert call.params["access_token"].startswith("tok")
    (token_call,) = wx.fake.calls_to("gettoken")
    assert token_call.params == {"corpid": F.CORP_ID, "corpsecret": F.APP_SECRET}


def test_the_duplicate_check_interval_differs_between_pushes_but_not_retries() -> None:
    intervals = {dup_interval(f"k{i}") for i in range(50)}
    assert len(intervals) == 50
    assert dup_interval("same") == dup_interval("same")
    assert all(1800 <= i < 4 * 3600 for i in intervals)


@pytest.mark.parametrize("fault", ["expire_tokens", "invalidate_tokens"])
def test_an_expired_or_corrupt_token_is_refreshed_once(wx: Harness, fault: str) -> None:
    _text(wx, 1, prefix="a")
    wx.drain()
    getattr(wx.fake, fault)()
    _text(wx, 1, prefix="b")
    wx.drain()
    assert len(wx.fake.calls_to("gettoken")) == 2
    outcomes = [c.outcome for c in wx.fake.calls_to("message/send")]
    assert outcomes == ["ok", f"errcode {42001 if fault == 'expire_tokens' else 40014}", "ok"]
    assert [m["text"]["content"] for m in wx.fake.delivered] == ["a 0", "b 0"]


def test_a_token_that_keeps_failing_is_not_retried_in_a_loop(wx: Harness) -> None:
    wx.fake.issue_state = "expired"
    _text(wx, 1)
    wx.worker.run_once()
    # One call, one refresh, one retry, then back to the outbox (no unbounded recursion).
    assert len(wx.fake.calls_to("message/send")) == 2
    assert len(wx.fake.calls_to("gettoken")) == 2
    (row,) = wx.outbox(kind="text")
    assert row.status == "pending" and "42001" in (row.last_error or "")
    wx.fake.issue_state = "ok"
    wx.drain()
    assert len(wx.fake.delivered) == 1


@pytest.mark.parametrize("code", [45009, 45033, -1])
def test_busy_and_rate_limited_calls_are_retried_with_backoff(wx: Harness, code: int) -> None:
    wx.fake.faults = F.Faults(rate=1.0, codes=(code,), drops=False, paths={"message/send"})
    _text(wx, 1)
    wx.worker.run_once()
    (row,) = wx.outbox(kind="text")
    assert row.status == "pending" and row.attempts == 1 and str(code) in (row.last_error or "")
    assert row.next_attempt_at > wx.clock()
    wx.fake.faults = F.Faults()
    wx.drain()
    assert len(wx.fake.delivered) == 1


def test_refused_pushes_are_dead_lettered_at_once(wx: Harness) -> None:
    _text(wx, 1, to="nobody")  # 81013: no valid recipient
    wx.fake.forbidden.add("externalcontact/mark_tag")
    wx.drain()
    (row,) = wx.outbox(kind="text")
    assert row.status == "dead" and row.attempts == 1 and "81013" in (row.last_error or "")


def test_a_partly_invalid_recipient_list_is_a_success(wx: Harness) -> None:
    _text(wx, 1, to="wangfang|ghost")
    wx.drain()
    (row,) = wx.outbox(kind="text")
    assert row.status == "sent"
    assert wx.fake.delivered[0]["touser"] == "wangfang"


def test_a_push_that_keeps_failing_is_retried_until_it_expires(wx: Harness) -> None:
    wx.fake.faults = F.Faults(rate=1.0, codes=(-1,), drops=False, paths={"message/send"})
    _text(wx, 1)
    wx.drain(rounds=2000)
    (row,) = wx.outbox(kind="text")
    # An alert is worth a day: retried all that time (not 8 or 12 times), then expired.
    assert row.status == "expired" and row.attempts > 12
    assert (row.last_error or "").startswith("expired at") and "system busy" in row.last_error


def test_with_30_percent_faults_every_push_arrives_exactly_once(wx: Harness) -> None:
    wx.fake.faults = F.Faults(rate=0.3)
    _text(wx, 120)
    wx.drain(rounds=2000)
    assert {r.status for r in wx.outbox(kind="text")} == {"sent"}
    delivered = Counter(m["text"]["content"] for m in wx.fake.delivered)
    assert len(delivered) == 120 and set(delivered.values()) == {1}
    outcomes = Counter(c.outcome for c in wx.fake.calls_to("message/send"))
    assert outcomes["drop-after"] > 0 and outcomes["errcode 45009"] > 0  # faults did happen
    assert wx.fake.duplicates >= outcomes["drop-after"] - 1  # caught by the duplicate check


# --- the shared token store ------------------------------------------------------------------


def _api(fake: F.FakeWecom, tokens: TokenStore) -> Api:
    return Api(fake.base, app_id=F.CORP_ID, secret=F.APP_SECRET, tokens=tokens, token_key="k")


def _race(fake: F.FakeWecom, stores: list[TokenStore]) -> None:
    apis = [_api(fake, s) for s in stores]
    errors: list[BaseException] = []

    def call(api: Api) -> None:
        try:
            api.get("externalcontact/get_follow_user_list")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(a,)) for a in apis]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_workers_sharing_the_database_refresh_the_token_once(
    fake: F.FakeWecom, db: Database
) -> None:
    _race(fake, [DbTokens(db) for _ in range(8)])
    assert len(fake.calls_to("gettoken")) == 1
    fake.expire_tokens()
    _race(fake, [DbTokens(db) for _ in range(8)])
    assert len(fake.calls_to("gettoken")) == 2


@pytest.fixture
def redis_url() -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


def test_workers_sharing_redis_refresh_the_token_once(fake: F.FakeWecom, redis_url: str) -> None:
    _race(fake, [RedisTokens(redis_url) for _ in range(8)])
    assert len(fake.calls_to("gettoken")) == 1
    fake.invalidate_tokens()
    _race(fake, [RedisTokens(redis_url) for _ in range(8)])
    assert len(fake.calls_to("gettoken")) == 2
