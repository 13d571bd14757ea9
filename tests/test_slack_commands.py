"""Slash commands and buttons end to end: signed requests in, the fake Slack's calls out."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.settings import Settings
from storage.db import Database
from storage.models import Staff
from tests.chat_fixtures import build_store
from tests.conftest import TOKEN
from tests.fakes.slack import FakeSlack, SlackHarness, link, make_app


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


def harness(
    settings: Settings, db: Database, fake: FakeSlack, **options: Any
) -> Iterator[SlackHarness]:
    app, sender = make_app(settings, db, fake, **options)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        build_store(lambda kind, rows: client.post(f"/api/v1/{kind}", json=rows).json())
        link(db, "M01", "UMGR0001")
        link(db, "G01", "UGDE0001")
        link(db, "G03", "UAMY0001")
        yield SlackHarness(client, fake, sender)


@pytest.fixture
def slack(settings: Settings, db: Database, fake: FakeSlack) -> Iterator[SlackHarness]:
    yield from harness(settings, db, fake)


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["action_id"]: e
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    }


def test_customer_lookup_is_answered_in_the_ack_and_ephemeral(slack: SlackHarness) -> None:
    response, _ = slack.command("/customer", "13812345678", "UGDE0001")
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert "张三" in text_of(ack) and "****5678" in text_of(ack)
    shown = ack["text"] + json.dumps([b for b in ack["blocks"] if b["type"] != "actions"])
    assert "13812345678" not in shown  # phones are masked in chat
    assert "scrm_share" not in buttons(ack)  # a customer's profile is never shared


def test_scrm_runs_any_chat_command_in_the_users_language(slack: SlackHarness) -> None:
    ack = slack.command("/scrm", "tasks", "UAMY0001")[0].json()
    assert "No tasks today." in text_of(ack)
    ack = slack.command("/scrm", "任务", "UGDE0001")[0].json()
    assert "今天没有任务。" in text_of(ack)
    ack = slack.command("/scrm", "", "UGDE0001")[0].json()  # empty: help
    assert "帮助" in text_of(ack) or "help" in text_of(ack)


def test_unknown_user_is_linked_by_email_on_first_contact(
    slack: SlackHarness, db: Database
) -> None:
    link(db, "G02", None, email="Lina@Example.com")
    slack.fake.add_user("ULINA0001", email="lina@example.com")
    ack = slack.command("/scrm", "tasks", "ULINA0001")[0].json()
    assert "今天没有任务。" in text_of(ack)
    with db.session() as s:
        assert s.scalar(select(Staff.slack_user_id).where(Staff.code == "G02")) == "ULINA0001"
    slack.command("/scrm", "tasks", "ULINA0001")
    assert len(slack.fake.to("users.info")) == 1  # linked: no second lookup


def test_unmapped_user_is_refused_clearly(slack: SlackHarness) -> None:
    slack.fake.add_user("USTRANGER", email="nobody@example.com")
    ack = slack.command("/kpi", "D11-2026", "USTRANGER")[0].json()
    out = text_of(ack)
    assert (
        "not linked to a staff member" in out
        and "scrm staff add CODE NAME --slack USTRANGER" in out
    )
    assert "nobody@example.com" in out and "还没有对应的员工" in out
    assert "scrm_share" not in buttons(ack)
    ack = slack.command("/kpi", "D11-2026", "UNOPROFILE")[0].json()  # users.info fails
    assert "UNOPROFILE" in text_of(ack)


def test_slow_work_acks_first_and_answers_through_respond(
    settings: Settings, db: Database, fake: FakeSlack
) -> None:
    for slack in harness(settings, db, fake, ack_budget=0.0):
        response, name = slack.command("/customer", "13812345678", "UGDE0001")
        assert response.status_code == 200
        assert "Working on it" in response.json()["text"]
        [later] = slack.responses(name)
        assert later["response_type"] == "ephemeral" and "张三" in text_of(later)


def test_candidate_buttons_run_as_the_user(slack: SlackHarness) -> None:
    ack = slack.command("/customer", "zs", "UGDE0001")[0].json()
    assert "回复序号选择" in text_of(ack)
    picks = {k: v for k, v in buttons(ack).items() if k.startswith("scrm_item_")}
    assert len(picks) == 2
    first = picks["scrm_item_1_0"]
    response, name = slack.click("UGDE0001", first["action_id"], first["value"])
    assert response.status_code == 200
    [answer] = slack.responses(name)
    assert answer["replace_original"] is False and answer["response_type"] == "ephemeral"
    assert "阶段" in text_of(answer) or "导购" in text_of(answer)
    # The button names the customer, not a position; someone else clicking it runs it as
    # themselves, within their own scope.
    assert first["value"].startswith("查 #")
    response, name = slack.click("UAMY0001", first["action_id"], first["value"])
    [other] = slack.responses(name)
    assert "among yours" in text_of(other)


def share_button(slack: SlackHarness, text: str, user: str = "UMGR0001") -> dict[str, Any]:
    ack = slack.command("/scrm", text, user)[0].json()
    return buttons(ack)["scrm_share"]


def test_share_posts_to_the_channel_and_removes_the_private_copy(slack: SlackHarness) -> None:
    share = share_button(slack, "team")
    response, name = slack.click("UMGR0001", "scrm_share", share["value"], channel="C0SHOP")
    assert response.status_code == 200
    [posted] = slack.fake.wait_for("chat.postMessage")
    assert posted.args["channel"] == "C0SHOP" and "王芳" in json.dumps(
        posted.args, ensure_ascii=False
    )
    assert "<@UMGR0001>" in json.dumps(posted.args["blocks"])
    assert "scrm_share" not in json.dumps(posted.args["blocks"])
    [done] = slack.responses(name)
    assert done["delete_original"] is True


def test_share_into_a_channel_without_the_app_says_to_invite_it(slack: SlackHarness) -> None:
    slack.fake.channels["C0PRIVATE"] = {"is_member": False, "is_private": True}
    share = share_button(slack, "team")
    _, name = slack.click("UMGR0001", "scrm_share", share["value"], channel="C0PRIVATE")
    [answer] = slack.responses(name)
    assert "/invite" in answer["text"] and answer.get("replace_original") is False
    time.sleep(0.1)
    assert not [r for r in slack.fake.to("response") if r.args.get("delete_original")]
