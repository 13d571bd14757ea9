"""App Home (manager overview, guide tasks) and digest subscriptions (modal, send_digest,
Send now), end to end through /slack/events against the fake Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.outbox import OutboxWorker
from bot.settings import Settings
from integrations.slack.digest import send_digest
from storage.db import Database
from storage.models import Customer, DigestSubscription, OutboxMessage, Staff, Task
from tests.conftest import TOKEN
from tests.fakes.slack import FakeSlack, SlackHarness, link, make_app, slack_settings
from tests.test_kpi_shop import build_shop
from tests.test_slack_kpi import COMMANDS

NOW = datetime(2026, 11, 8, 2, 0, tzinfo=UTC)  # 10:00 on 2026-11-08 in Shanghai: D11-2026 runs


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack(settings: Settings, db: Database, fake: FakeSlack) -> Iterator[SlackHarness]:
    app, sender = make_app(
        settings, db, fake, commands=COMMANDS, ack_budget=30.0, clock=lambda: NOW
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        build_shop(client, db)
        link(db, "M01", "UMGR0001")
        link(db, "G01", "UGDE0001")
        with db.uow() as uow:
            s = uow.session
            guide = s.scalar(select(Staff.id).where(Staff.code == "G01"))
            customer = s.scalar(select(Customer.id).where(Customer.name == "张三"))
            assert guide and customer
            s.add(Task(guide_id=guide, customer_id=customer, day=date(2026, 11, 8), kind="churn_risk",
                       rank=1, value_at_risk_cents=50000, suggested_message="张姐，新款到了"))  # fmt: skip
            uow.commit()
        yield SlackHarness(client, fake, sender)


def published(fake: FakeSlack, n: int = 1) -> dict[str, Any]:
    call = fake.wait_for("views.publish", n)[n - 1]
    view = call.args["view"]
    return json.loads(view) if isinstance(view, str) else view  # type: ignore[no-any-return]


def home_event(slack: SlackHarness, user: str, event_id: str) -> None:
    event = {"type": "app_home_opened", "user": user, "tab": "home", "channel": "D1"}
    assert slack.event(event, event_id).status_code == 200


def test_manager_home_shows_running_campaigns_team_and_risk(slack: SlackHarness) -> None:
    home_event(slack, "UMGR0001", "EvH1")
    view = published(slack.fake)
    out = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home"
    assert "2026 双十一（D11-2026）" in out and "净销售额" in out
    assert "今日任务完成" in out and "王芳  0/1" in out
    assert "上海南京西路店" in out and "¥500.00（1 位）" in out
    assert "scrm_digest_new" in out
    ids = [
        e["action_id"] for b in view["blocks"] for e in b.get("elements", []) if "action_id" in e
    ]
    assert len(ids) == len(set(ids))


def test_guide_home_lists_tasks_and_a_done_button_redraws_it(
    slack: SlackHarness, db: Database
) -> None:
    home_event(slack, "UGDE0001", "EvH2")
    view = published(slack.fake)
    out = json.dumps(view, ensure_ascii=False)
    assert "张三" in out and "张姐，新款到了" in out
    with db.session() as s:
        task_id = s.scalar(
            select(Task.id).where(
                Task.day == date(2026, 11, 8), Task.suggested_message == "张姐，新款到了"
            )
        )
    # The button names the task itself, never its position in the list.
    done = next(
        e
        for b in view["blocks"]
        for e in b.get("elements", [])
        if e.get("value") == f"完成 #{task_id}"
    )
    slack.click("UGDE0001", done["action_id"], done["value"], view=True)
    [dm] = slack.fake.wait_for("chat.postMessage")
    assert dm.args["channel"] == "UGDE0001"
    assert "张三 · 任务完成 ✓" in json.dumps(dm.args, ensure_ascii=False)
    again = json.dumps(published(slack.fake, 2), ensure_ascii=False)
    assert "✓ 张三" in again
    with db.session() as s:
        assert s.scalar(select(Task.status)) == "done"


def digest_values(
    channel: str, frequency: str = "daily", weekday: str | None = None
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "campaigns": {"campaigns": {"selected_options": [{"value": "D11-2026"}]}},
        "metrics": {"metrics": {"selected_options": [{"value": "net_sales"}, {"value": "buyers"}]}},
        "store": {"store": {"selected_option": None}},
        "period": {"period": {"selected_option": {"value": "-"}}},
        "frequency": {"frequency": {"selected_option": {"value": frequency}}},
        "weekday": {"weekday": {"selected_option": {"value": weekday} if weekday else None}},
        "time": {"time": {"selected_time": "08:30"}},
        "channel": {"channel": {"selected_conversation": channel}},
    }
    return values


def submit(slack: SlackHarness, user: str, values: dict[str, Any]) -> Any:
    return slack.interact(
        {
            "type": "view_submission",
            "team": {"id": "T0001"},
            "user": {"id": user},
            "api_app_id": "A0001",
            "trigger_id": "1.2.3",
            "view": {
                "id": "V9",
                "type": "modal",
                "callback_id": "scrm_digest",
                "state": {"values": values},
            },
        }
    )


def test_digest_modal_saves_a_subscription(slack: SlackHarness, db: Database) -> None:
    slack.command("/scrm", "digest", "UMGR0001", channel_id="C0MGRS")
    [opened] = slack.fake.wait_for("views.open")
    modal = opened.args["view"]
    modal = json.loads(modal) if isinstance(modal, str) else modal
    assert modal["callback_id"] == "scrm_digest"
    assert any(b["block_id"] == "time" for b in modal["blocks"])
    _, name = slack.command("/scrm", "订阅", "UGDE0001")
    assert "只对店长和管理员开放" in slack.responses(name)[0]["text"]

    bad = submit(slack, "UMGR0001", digest_values("C0MGRS", frequency="weekly"))
    assert bad.json() == {"response_action": "errors", "errors": {"weekday": "每周发送要选一天。"}}
    slack.fake.channels["C0SECRET"] = {"is_private": True, "is_member": False}
    hidden = submit(slack, "UMGR0001", digest_values("C0SECRET"))
    assert "/invite" in hidden.json()["errors"]["channel"]

    slack.fake.channels["C0MGRS"] = {"is_private": False, "is_member": False}  # chat:write.public
    ok = submit(slack, "UMGR0001", digest_values("C0MGRS", frequency="weekly", weekday="0"))
    assert ok.status_code == 200 and ok.content in (b"", b"null")
    slack.fake.wait_for("views.publish")
    with db.session() as s:
        sub = s.scalars(select(DigestSubscription)).one()
        assert (sub.target, sub.frequency, sub.weekday, sub.time_of_day) == (
            "C0MGRS",
            "weekly",
            0,
            "08:30",
        )
        assert sub.campaigns == ["D11-2026"] and sub.metrics == ["net_sales", "buyers"]


def add_subscription(db: Database, target: str, campaigns: list[str]) -> int:
    with db.uow() as uow:
        staff = uow.session.scalar(select(Staff.id).where(Staff.code == "M01"))
        assert staff is not None
        row = DigestSubscription(staff_id=staff, channel="slack", target=target, campaigns=campaigns,
                                 metrics=[], filters={}, frequency="daily", time_of_day="09:00",
                                 timezone="Asia/Shanghai")  # fmt: skip
        uow.session.add(row)
        uow.commit()
        return row.id


def test_send_digest_enqueues_once_per_day_and_skips_empty_ones(
    slack: SlackHarness, db: Database, settings: Settings
) -> None:
    sub = add_subscription(db, "C0MGRS", ["D11-2026"])
    assert send_digest(db, settings, sub, NOW) == "enqueued"
    assert send_digest(db, settings, sub, NOW) == "enqueued"  # same key: still one push
    with db.session() as s:
        [row] = s.scalars(select(OutboxMessage)).all()
        assert row.idempotency_key == f"digest:{sub}:2026-11-08" and row.target == "C0MGRS"
    empty = add_subscription(db, "C0MGRS", ["EMPTY"])
    assert send_digest(db, settings, empty, NOW) == "skipped: empty digest"
    OutboxWorker(db, {"slack": slack.sender}).drain()
    [posted] = slack.fake.wait_for("chat.postMessage")
    body = json.dumps(posted.args, ensure_ascii=False)
    assert posted.args["channel"] == "C0MGRS" and "KPI 日报 2026-11-08" in body
    assert "净销售额" in body and "购买人数" in body


def test_send_now_posts_a_preview_or_says_to_invite_the_app(
    slack: SlackHarness, db: Database
) -> None:
    sub = add_subscription(db, "C0MGRS", ["D11-2026"])
    slack.click("UMGR0001", f"scrm_digest_send_{sub}", str(sub), view=True)
    posts = slack.fake.wait_for("chat.postMessage", 2)
    assert posts[0].args["channel"] == "C0MGRS" and posts[1].args["channel"] == "UMGR0001"
    assert "<#C0MGRS>" in posts[1].args["text"]
    slack.fake.fail("chat.postMessage", "not_in_channel")
    slack.click("UMGR0001", f"scrm_digest_send_{sub}", str(sub), view=True)
    notice = slack.fake.wait_for("chat.postMessage", 4)[3]
    assert notice.args["channel"] == "UMGR0001" and "/invite" in notice.args["text"]
    with db.session() as s:
        assert s.scalars(select(OutboxMessage)).all() == []  # a preview is not a scheduled send


def test_slack_settings_helper_keeps_the_database(settings: Settings, fake: FakeSlack) -> None:
    assert slack_settings(settings, fake).database_url == settings.database_url


def test_a_manager_pauses_and_resumes_a_digest_from_the_home_tab(
    slack: SlackHarness, db: Database, settings: Settings
) -> None:
    sub = add_subscription(db, "C0MGRS", ["D11-2026"])

    def paused() -> bool:
        with db.session() as s:
            row = s.get(DigestSubscription, sub)
            assert row is not None
            return row.paused

    slack.click("UMGR0001", f"scrm_digest_pause_{sub}", str(sub), view=True)
    home = json.dumps(published(slack.fake), ensure_ascii=False)
    assert "C0MGRS> · 09:00 · D11-2026 · 已暂停" in home and "恢复" in home
    assert paused()
    assert send_digest(db, settings, sub, NOW) == "skipped: paused"
    slack.click("UGDE0001", f"scrm_digest_pause_{sub}", str(sub), view=True)  # not theirs
    slack.click("UMGR0001", f"scrm_digest_pause_{sub}", str(sub), view=True)
    home = json.dumps(published(slack.fake, 2), ensure_ascii=False)
    assert "已暂停" not in home and "暂停" in home
    assert not paused()  # resumed once: the guide's click changed nothing
    assert send_digest(db, settings, sub, NOW) == "enqueued"
