"""Pytest fixtures for WeCom/WeChat end-to-end tests: the fake API server, an app configured
against it, encrypted callbacks posted through ``TestClient``, and an outbox worker driven
by a clock the test controls (so retries with backoff run instantly)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from bot.app import create_app
from bot.outbox import OutboxWorker
from bot.settings import Settings
from storage.base import utcnow
from storage.db import Database
from storage.models import InboxEvent, OutboxMessage
from tests.fakes import wecom as F

API_TOKEN = "test-token-1-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return max(self.now, utcnow())

    def advance(self, seconds: float) -> None:
        self.now = max(self.now, utcnow()) + timedelta(seconds=seconds)


def server_env(fake: F.FakeWecom) -> dict[str, str]:
    """The environment that points a ``scrm serve`` subprocess at the fake (benchmarks)."""
    return {
        "SCRM_WECOM_CORP_ID": F.CORP_ID,
        "SCRM_WECOM_AGENT_ID": str(F.AGENT_ID),
        "SCRM_WECOM_SECRET": F.APP_SECRET,
        "SCRM_WECOM_TOKEN": F.TOKEN,
        "SCRM_WECOM_AES_KEY": F.AES_KEY,
        "SCRM_WECOM_API_BASE": fake.base,
    }


def wecom_settings(database_url: str, fake: F.FakeWecom, **over: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "api_tokens": [f"{API_TOKEN}:admin"],
        "wecom_corp_id": F.CORP_ID,
        "wecom_agent_id": F.AGENT_ID,
        "wecom_secret": F.APP_SECRET,
        "wecom_contact_secret": F.CONTACT_SECRET,
        "wecom_token": F.TOKEN,
        "wecom_aes_key": F.AES_KEY,
        "wecom_api_base": fake.base,
        "wechat_app_id": F.OA_APP_ID,
        "wechat_secret": F.OA_SECRET,
        "wechat_token": F.TOKEN,
        "wechat_aes_key": F.AES_KEY,
        "wechat_api_base": fake.oa_base,
        "outbox_worker": False,  # the test drives the worker
        "quiet_start": "00:00",
        "quiet_end": "00:00",  # no quiet hours unless a test sets them
        **over,
    }
    return Settings(_env_file=None, **values)


class Harness:
    def __init__(self, client: TestClient, db: Database, fake: F.FakeWecom) -> None:
        self.client, self.db, self.fake = client, db, fake
        self.clock = Clock()
        self.worker = OutboxWorker(
            db,
            client.app.state.senders,  # type: ignore[attr-defined]
            base_delay=1.0,
            clock=self.clock,
            rng=random.Random(3),
        )
        self._msg_id = 1000

    def api(self, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/{kind}", json=rows)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, xml: str, *, path: str = "/wecom/callback", **kw: Any) -> Response:
        params, body = F.encrypt(xml, official_account=path.startswith("/wechat"), **kw)
        return self.client.post(path, params=params, content=body.encode())

    def say(self, user: str, text: str) -> Response:
        self._msg_id += 1
        return self.post(F.text_xml(user, text, self._msg_id))

    def drain(self, rounds: int = 200) -> None:
        """Send everything due, jumping the clock to the next retry (as time would pass,
        no further: a lost answer is resent inside WeCom's duplicate window), until
        nothing is pending."""
        for _ in range(rounds):
            if self.worker.run_once(50):
                continue
            due = self._next_due()
            if due is None:
                return
            self.clock.advance(max(1.0, (due - self.clock()).total_seconds() + 1))
        raise AssertionError("outbox did not drain")

    def _next_due(self) -> datetime | None:
        with self.db.session() as s:
            return s.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.status == "pending",
                    OutboxMessage.channel.in_(["wecom", "wechat"]),
                )
            )

    def pending(self) -> int:
        with self.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.status == "pending",
                        OutboxMessage.channel.in_(["wecom", "wechat"]),
                    )
                )
                or 0
            )

    def outbox(self, **where: Any) -> list[OutboxMessage]:
        with self.db.session() as s:
            q = select(OutboxMessage).order_by(OutboxMessage.id)
            for k, v in where.items():
                q = q.where(getattr(OutboxMessage, k) == v)
            return list(s.scalars(q))

    def inbox_count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(InboxEvent)) or 0)


@pytest.fixture
def fake() -> Iterator[F.FakeWecom]:
    server = F.FakeWecom().start()
    yield server
    server.stop()


@pytest.fixture
def wx(database_url: str, db: Database, fake: F.FakeWecom) -> Iterator[Harness]:
    settings = wecom_settings(database_url, fake)
    fake.members |= {"wangfang", "zhoujl", "lina"}  # the app's visible range
    with TestClient(create_app(settings, db)) as client:
        client.headers["Authorization"] = f"Bearer {API_TOKEN}"
        yield Harness(client, db, fake)
