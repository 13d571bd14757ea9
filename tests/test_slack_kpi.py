"""/kpi on Slack: KPI fields with arrows, the chart through files_upload_v2 (with alt text),
and the buttons that re-render the same message (period, store, previous campaign)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.commands import REGISTRY
from bot.commands import campaigns as campaigns_cmd
from bot.commands import kpi as kpi_cmd
from bot.settings import Settings
from storage.db import Database
from tests.conftest import TOKEN
from tests.fakes.slack import FakeSlack, SlackHarness, link, make_app
from tests.test_kpi_shop import TODAY, build_shop
from tests.test_slack_commands import buttons, text_of

# kpi and campaigns may not be in the registry yet; the Slack layer takes any command list.
COMMANDS = [c for c in REGISTRY if c.name not in ("kpi", "campaigns")] + [
    kpi_cmd.COMMAND,
    campaigns_cmd.COMMAND,
]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    server = FakeSlack().start()
    yield server
    server.stop()


@pytest.fixture
def slack(settings: Settings, db: Database, fake: FakeSlack) -> Iterator[SlackHarness]:
    app, sender = make_app(
        settings, db, fake, commands=COMMANDS, ack_budget=30.0, clock=lambda: TODAY
    )
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        build_shop(client, db)
        link(db, "A01", "UADM0001")
        link(db, "M01", "UMGR0001")
        link(db, "G01", "UGDE0001")
        yield SlackHarness(client, fake, sender)


def nav(message: dict[str, Any]) -> dict[str, str]:
    return {
        e["text"]["text"]: e["value"]
        for k, e in buttons(message).items()
        if k.startswith("scrm_nav_")
    }


def test_kpi_fields_arrows_buttons_and_chart(slack: SlackHarness) -> None:
    ack = slack.command("/kpi", "D11-2026", "UADM0001")[0].json()
    out = text_of(ack)
    assert ack["response_type"] == "ephemeral"
    assert "2026 双十一 (D11-2026)" in out
    assert "*Net sales*  ▲ +¥400.00, +66.7%" in out
    assert "The chart is in your DM with me" in out
    assert nav(ack) == {
        "Yesterday": "kpi D11-2026 period:yesterday",
        "Last 7 days": "kpi D11-2026 period:7d",
        "Month to date": "kpi D11-2026 period:mtd",
        "Whole campaign": "kpi D11-2026",
        "上海南京西路店": "kpi D11-2026 store:上海南京西路店",
        "北京三里屯店": "kpi D11-2026 store:北京三里屯店",
        "Previous: D11-2025": "kpi D11-2025",
    }
    assert len(buttons(ack)["scrm_share"]["value"]) == 32  # the shown reply's id, not a command
    # The chart: files_upload_v2's three steps into the user's DM, alt text set.
    [opened] = slack.fake.wait_for("conversations.open")
    assert opened.args["users"] == "UADM0001"
    [url] = slack.fake.wait_for("files.getUploadURLExternal")
    assert len(url.args["alt_txt"]) > 20 and url.args["filename"] == "chart.png"
    [upload] = slack.fake.wait_for("upload")
    assert upload.args["bytes"] == int(url.args["length"])
    [done] = slack.fake.wait_for("files.completeUploadExternal")
    assert done.args["channel_id"] == "DADM0001"
    assert slack.fake.to("files.upload") == []  # the retired method is never called


def test_buttons_re_render_the_same_message(slack: SlackHarness) -> None:
    ack = slack.command("/kpi", "D11-2026", "UADM0001")[0].json()
    links = nav(ack)
    _, name = slack.click("UADM0001", "scrm_nav_0_1", links["Last 7 days"])
    [week] = slack.responses(name)
    assert week["replace_original"] is True
    assert "Figures for 2026-11-13 – 2026-11-19" in text_of(week)
    styles = {k: b.get("style") for k, b in buttons(week).items() if k.startswith("scrm_nav_0")}
    assert styles["scrm_nav_0_1"] == "primary" and styles["scrm_nav_0_0"] is None
    _, name = slack.click("UADM0001", "scrm_nav_1_1", links["北京三里屯店"])
    [store] = slack.responses(name)
    assert store["replace_original"] is True and "Scope: 北京三里屯店" in text_of(store)
    assert nav(store)["All stores"] == "kpi D11-2026"
    _, name = slack.click("UADM0001", "scrm_nav_2_0", links["Previous: D11-2025"])
    [previous] = slack.responses(name)
    assert previous["replace_original"] is True and "(D11-2025)" in text_of(previous)
    assert "Previous:" not in json.dumps(nav(previous))  # D11-2025 has no predecessor


def test_shared_kpi_gets_its_chart_in_the_thread(slack: SlackHarness) -> None:
    ack = slack.command("/kpi", "D11-2026", "UMGR0001")[0].json()
    share = buttons(ack)["scrm_share"]["value"]
    _, name = slack.click("UMGR0001", "scrm_share", share, channel="C0MGRS")
    [posted] = slack.fake.wait_for("chat.postMessage")
    assert posted.args["channel"] == "C0MGRS" and "scrm_nav_" not in json.dumps(posted.args)
    # The first chart went to the manager's DM with the private answer; the second is shared.
    done = slack.fake.wait_for("files.completeUploadExternal", 2)[-1]
    assert done.args["channel_id"] == "C0MGRS"
    assert done.args["thread_ts"] == slack.fake.messages["C0MGRS"][0]["ts"]
    assert slack.responses(name)[0]["delete_original"] is True


def test_guides_are_refused_kpis_without_a_share_button(slack: SlackHarness) -> None:
    ack = slack.command("/kpi", "D11-2026", "UGDE0001")[0].json()
    assert "只对店长和管理员开放" in text_of(ack)
    assert buttons(ack) == {}
    assert slack.fake.to("files.getUploadURLExternal") == []
