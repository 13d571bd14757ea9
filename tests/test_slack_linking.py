"""Slack accounts are linked by email only when the email means something: signed requests
against the fake Slack from users of another workspace, bots, deleted accounts, guests and
unconfirmed emails; never an admin by email; ``scrm staff link|unlink``; deactivation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.models import AuditLog, Staff
from tests.chat_fixtures import build_store
from tests.conftest import TOKEN
from tests.fakes.slack import FakeSlack, SlackHarness, link, make_app


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
        yield SlackHarness(client, fake, sender)


def _text(ack: Any) -> str:
    body = ack.json()
    return json.dumps(body.get("blocks", []), ensure_ascii=False) + body.get("text", "")


def _slack_id(db: Database, code: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(Staff.slack_user_id).where(Staff.code == code))


@pytest.mark.parametrize(
    "account",
    [
        {"team_id": "T0OTHER"},  # another workspace (Slack Connect, another grid org)
        {"is_bot": True},
        {"deleted": True},
        {"is_restricted": True},  # multi-channel guest
        {"is_ultra_restricted": True},  # single-channel guest
        {"is_email_confirmed": False},
    ],
)
def test_an_untrusted_account_with_a_matching_email_is_not_linked(
    slack: SlackHarness, db: Database, account: dict[str, Any]
) -> None:
    link(db, "M01", None, email="zhou@example.com")
    slack.fake.add_user("UEVIL0001", email="zhou@example.com", **account)
    ack = slack.command("/kpi", "D11-2026", "UEVIL0001")[0]
    assert "not linked to a staff member" in _text(ack)
    assert "zhou@example.com" not in _text(ack)  # no hint to set the email either
    assert _slack_id(db, "M01") is None


def test_a_member_of_the_workspace_is_linked_and_audited(slack: SlackHarness, db: Database) -> None:
    link(db, "M01", None, email="zhou@example.com")
    slack.fake.add_user("UZHOU0001", email="Zhou@Example.com")
    ack = slack.command("/scrm", "help", "UZHOU0001")[0]
    assert "not linked" not in _text(ack)
    assert _slack_id(db, "M01") == "UZHOU0001"
    with db.session() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "link_slack"))
        assert row is not None and row.detail == {"user": "UZHOU0001", "by": "email"}
    assert len(slack.fake.to("auth.test")) >= 1  # the workspace came from Slack itself


def test_an_admin_is_never_linked_by_email_only_by_hand(
    slack: SlackHarness,
    db: Database,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    link(db, "A01", None, email="boss@example.com")
    slack.fake.add_user("UBOSS0001", email="boss@example.com")
    assert "not linked" in _text(slack.command("/scrm", "help", "UBOSS0001")[0])
    assert _slack_id(db, "A01") is None
    code, out = cli("staff", "link", "A01", "slack", "UBOSS0001")
    assert code == 0 and "linked" in out
    assert _slack_id(db, "A01") == "UBOSS0001"
    code, out = cli("staff", "link", "M01", "slack", "UBOSS0001")
    assert code == 1 and "already linked to A01" in out
    code, out = cli("staff", "unlink", "A01", "slack")
    assert code == 0 and "unlinked from slack user UBOSS0001" in out
    assert _slack_id(db, "A01") is None
    assert cli("staff", "unlink", "A01", "teams")[0] == 2
    with db.session() as s:
        actions = list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert actions[-2:] == ["link_slack", "unlink_slack"]


def test_a_deactivated_manager_is_refused_on_slack(
    slack: SlackHarness,
    db: Database,
    cli,  # type: ignore[no-untyped-def]
) -> None:
    link(db, "M01", "UMGR0001")
    assert "not linked" not in _text(slack.command("/scrm", "help", "UMGR0001")[0])
    assert cli("staff", "deactivate", "M01")[0] == 0
    out = _text(slack.command("/kpi", "D11-2026", "UMGR0001")[0])
    # Slack's directory still holds M01 for a minute; the dispatcher checks again.
    assert "has been deactivated" in out
