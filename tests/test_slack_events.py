"""POST /slack/events: signatures, url_verification, event dedupe, the app factory wiring."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from storage.models import InboxEvent
from tests.chat_fixtures import build_store
from tests.conftest import TOKEN
from tests.fakes.slack import (
    FakeSlack,
    SlackHarness,
    command_body,
    link,
    make_app,
    signed_headers,
    slack_settings,
)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack(settings: Settings, db: Database, fake: FakeSlack) -> Iterator[SlackHarness]:
    app, sender = make_app(settings, db, fake)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        build_store(lambda kind, rows: client.post(f"/api/v1/{kind}", json=rows).json())
        link(db, "M01", "UMGR0001")
        link(db, "G01", "UGDE0001")
        yield SlackHarness(client, fake, sender)


def test_url_verification_through_the_app_factory(
    settings: Settings, db: Database, fake: FakeSlack
) -> None:
    app = create_app(slack_settings(settings, fake), db)
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"})
    with TestClient(app) as client:
        ok = client.post(
            "/slack/events", content=body, headers=signed_headers(body, "application/json")
        )
        assert ok.status_code == 200 and ok.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
        bad = client.post(
            "/slack/events",
            content=body,
            headers=signed_headers(body, "application/json", secret="wrong-secret-0002"),
        )
        assert bad.status_code == 401
        metrics = client.get("/metrics").text
        assert 'scrm_inbound_events_total{outcome="rejected",source="slack"} 1.0' in metrics
    assert "slack" in app.state.senders


def test_bad_or_stale_signature_is_refused_without_effect(slack: SlackHarness) -> None:
    body = command_body("/scrm", "tasks", "UGDE0001", slack.fake.response_url("x"))
    form = "application/x-www-form-urlencoded"
    forged = signed_headers(body, form, secret="not-the-secret-0003")
    assert slack.client.post("/slack/events", content=body, headers=forged).status_code == 401
    stale = signed_headers(body, form, timestamp=int(time.time()) - 6 * 60)  # 5-minute window
    assert slack.client.post("/slack/events", content=body, headers=stale).status_code == 401
    unsigned = {"Content-Type": form}
    assert slack.client.post("/slack/events", content=body, headers=unsigned).status_code == 401
    tampered = signed_headers(body, form)
    response = slack.client.post(
        "/slack/events", content=body.replace("tasks", "help"), headers=tampered
    )
    assert response.status_code == 401
    time.sleep(0.2)
    assert slack.fake.calls == []  # no Web API call, no response_url post


def test_event_retries_are_processed_once(slack: SlackHarness, db: Database) -> None:
    event = {"type": "app_home_opened", "user": "UGDE0001", "tab": "home", "channel": "D1"}
    assert slack.event(event, "Ev0001").status_code == 200
    slack.fake.wait_for("views.publish")
    retry = slack.event(
        event, "Ev0001", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retry.status_code == 200
    time.sleep(0.3)
    assert len(slack.fake.to("views.publish")) == 1
    with db.session() as s:
        keys = s.scalars(select(InboxEvent.event_key).where(InboxEvent.source == "slack")).all()
        assert keys == ["event:Ev0001"]
    slack.event(event, "Ev0002")
    slack.fake.wait_for("views.publish", 2)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboxEvent)) == 2
