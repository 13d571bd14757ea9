"""Slack buttons through signed requests: a replayed click runs once, task buttons name
their task, and "Share to channel" posts the reply shown, never a second run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.settings import Settings
from storage.base import utcnow
from storage.db import Database
from storage.models import Customer, InboxEvent, Interaction, Staff, Task
from tests.fakes.slack import FakeSlack, SlackHarness, block_action, interaction_body
from tests.test_slack_commands import buttons, harness, text_of


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack(settings: Settings, db: Database, fake: FakeSlack) -> Iterator[SlackHarness]:
    yield from harness(settings, db, fake)


def add_tasks(db: Database, settings: Settings, names: list[str]) -> list[int]:
    day = utcnow().astimezone(settings.tz).date()  # the store's local day, as the product's
    with db.uow() as uow:
        s = uow.session
        guide = s.scalar(select(Staff.id).where(Staff.code == "G01"))
        tasks = [
            Task(
                guide_id=guide,
                customer_id=s.scalar(select(Customer.id).where(Customer.name == name)),
                day=day,
                kind="churn_risk",
                rank=rank,
                suggested_message="好久不见",
            )
            for rank, name in enumerate(names, start=1)
        ]
        s.add_all(tasks)
        uow.commit()
        return [t.id for t in tasks]


def responses_to(slack: SlackHarness, name: str) -> list[dict]:  # type: ignore[type-arg]
    return [c.args for c in slack.fake.to("response") if c.path.endswith("/" + name)]


def test_task_buttons_carry_the_task_and_a_replayed_click_runs_once(
    slack: SlackHarness, db: Database, settings: Settings
) -> None:
    zhang_san, zhang_shan = add_tasks(db, settings, ["张三", "张珊"])
    ack = slack.command("/scrm", "任务", "UGDE0001")[0].json()
    done = next(b for b in buttons(ack).values() if b["value"] == f"完成 #{zhang_shan}")
    payload = block_action(
        "UGDE0001", done["action_id"], done["value"], slack.fake.response_url("replay")
    )
    body = interaction_body(payload)
    for _ in range(3):  # the same signed payload delivered three times
        assert slack.post(body, "application/x-www-form-urlencoded").status_code == 200
    [answer] = slack.responses("replay")
    assert "张珊 · 任务完成 ✓" in text_of(answer)
    time.sleep(0.3)
    assert len(responses_to(slack, "replay")) == 1  # the replays ran nothing
    with db.session() as s:
        assert s.scalar(select(Task.status).where(Task.id == zhang_san)) == "open"
        keys = list(
            s.scalars(select(InboxEvent.event_key).where(InboxEvent.kind == "block_actions"))
        )
    assert len(keys) == 1 and keys[0].startswith("action:UGDE0001:")


def test_a_second_tap_on_a_done_button_says_it_is_already_done(
    slack: SlackHarness, db: Database, settings: Settings
) -> None:
    (task,) = add_tasks(db, settings, ["张三"])
    ack = slack.command("/scrm", "任务", "UGDE0001")[0].json()
    done = next(b for b in buttons(ack).values() if b["value"] == f"完成 #{task}")
    slack.click("UGDE0001", done["action_id"], done["value"])
    _, name = slack.click("UGDE0001", done["action_id"], done["value"])  # a new tap
    [again] = slack.responses(name)
    assert "张三 的任务已于" in text_of(again) and "没有再改动" in text_of(again)


def test_share_is_not_offered_for_writes_and_never_reruns_a_command(
    slack: SlackHarness, db: Database
) -> None:
    ack = slack.command("/scrm", "跟进 张三 约了周六", "UGDE0001")[0].json()
    assert "张三" in text_of(ack) and "scrm_share" not in buttons(ack)
    # A button from before this version carried the command: it is not run again.
    _, name = slack.click("UGDE0001", "scrm_share", "跟进 张三 约了周六", channel="C0SHOP")
    [answer] = slack.responses(name)
    assert "没有再分享" in answer["text"]
    assert slack.fake.to("chat.postMessage") == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 1


def test_share_posts_the_reply_already_shown(
    slack: SlackHarness, db: Database, settings: Settings
) -> None:
    add_tasks(db, settings, ["张三"])
    ack = slack.command("/scrm", "团队", "UMGR0001")[0].json()
    shown = ack["text"]
    assert "0/1" in shown
    slack.command("/scrm", "完成 1", "UGDE0001")  # the figures move after it was shown
    share = buttons(ack)["scrm_share"]["value"]
    _, name = slack.click("UMGR0001", "scrm_share", share, channel="C0SHOP")
    [posted] = slack.fake.wait_for("chat.postMessage")
    assert posted.args["text"] == shown  # what the manager saw, not a second run
    assert slack.responses(name)[0]["delete_original"] is True
    _, name = slack.click("UMGR0001", "scrm_share", share, channel="C0SHOP")  # a new tap
    assert "没有再分享" in slack.responses(name)[0]["text"]
    assert len(slack.fake.to("chat.postMessage")) == 1
    assert "1/1" in json.dumps(slack.command("/scrm", "团队", "UMGR0001")[0].json())
