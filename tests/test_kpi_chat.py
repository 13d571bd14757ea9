"""``kpi`` / 活动 and ``campaigns`` / 活动列表 through the chat core, in both languages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply
from bot.commands import REGISTRY
from bot.commands import campaigns as campaigns_cmd
from bot.commands import kpi as kpi_cmd
from bot.settings import Settings
from storage.db import Database
from tests.chat_fixtures import Clock
from tests.test_kpi_shop import TODAY, shop_client

Say = Callable[[str, str], Reply]
COMMANDS = [c for c in REGISTRY if c.name not in ("kpi", "campaigns")] + [
    kpi_cmd.COMMAND,
    campaigns_cmd.COMMAND,
]


@pytest.fixture
def clock() -> Clock:
    clock = Clock()
    clock.now = TODAY
    return clock


@pytest.fixture
def say(settings: Settings, db: Database, clock: Clock) -> Iterator[Say]:
    with shop_client(settings, db):
        dispatcher = Dispatcher(db, settings, commands=COMMANDS, clock=clock)
        yield lambda staff, text: dispatcher.handle(IncomingMessage(Channel.CONSOLE, staff, text))


def test_kpi_in_chinese_for_a_store_manager(say: Say) -> None:
    reply = say("M01", "活动 D11-2026")
    out = reply.plain()
    assert reply.kind == "ok", out
    assert "2026 双十一（D11-2026）" in out
    assert "范围：你的门店" in out and "对比 2025 双十一（D11-2025）同期" in out
    assert "净销售额" in out and "¥1,000.00 (+¥400.00, +66.7%)" in out  # Shanghai only
    assert "报名人数" in out and "2 (+2)" in out  # no % against 0
    assert "上海南京西路店" in out and "北京三里屯店" not in out
    assert "口径：" in out and "毛利：净销售额 − 售出商品成本" in out
    assert reply.chart is not None and reply.chart.png.startswith(b"\x89PNG")


def test_kpi_in_english_for_an_admin(say: Say) -> None:
    out = say("A01", "kpi D11-2026").plain()
    assert "Gross sales (GMV)" in out and "¥1,650.00 (+¥1,050.00, +175.0%)" in out
    assert "Net sales" in out and "¥1,000.00 (+¥400.00, +66.7%)" in out
    assert "Conversion" in out and "66.7%" in out
    assert "Compared with 2025 双十一 (D11-2025), same days" in out
    assert "Definitions:" in out and "Attribution (each order to at most one campaign" in out
    assert "北京三里屯店" in out


def test_kpi_with_filters_period_and_vs(say: Say) -> None:
    out = say("A01", "kpi D11-2026 store:BJ01 period:2026-11-03..2026-11-05").plain()
    assert "Figures for 2026-11-03 – 2026-11-05" in out and "Scope: 北京三里屯店" in out
    assert "李娜" in out  # by guide within the store
    out = say("A01", "kpi NEW-2026 vs D11-2026").plain()
    assert "Compared with 2026 双十一 (D11-2026)" in out


def test_kpi_without_predecessor_and_empty(say: Say) -> None:
    out = say("A01", "kpi NEW-2026").plain()
    assert "Nothing to compare with" in out and "(+" not in out
    reply = say("M02", "kpi EMPTY")
    assert reply.kind == "ok" and "Net sales" in reply.plain() and reply.chart is not None


def test_kpi_refusals_and_usage(say: Say) -> None:
    refused = say("G01", "活动 D11-2026")
    assert refused.kind == "refusal" and "只对店长和管理员开放" in refused.text
    usage = say("M01", "活动")
    assert usage.kind == "usage" and "用法：活动" in usage.text
    assert "没有找到活动“618”" in say("M01", "活动 618").text
    assert "只能查看自己门店" in say("M01", "活动 D11-2026 门店:BJ01").text
    assert "can't read the period" in say("A01", "kpi D11-2026 period:soon").text
    assert "Name the campaign to compare" in say("A01", "kpi D11-2026 vs").text


def test_campaigns_lists_with_a_button_to_the_kpis(say: Say) -> None:
    reply = say("M01", "活动列表")
    out = reply.plain()
    assert reply.items[0].title == "2026 双十一（D11-2026）"
    assert reply.items[0].actions[0].command == "活动 D11-2026"
    assert "已结束" in out and "净销售额 ¥1,000.00" in out  # Shanghai for its manager
    en = say("A01", "campaigns 2")
    assert len(en.items) == 2 and "net sales ¥1,650.00" not in en.plain()
    assert "net sales ¥1,000.00" in en.plain()  # net of refunds, every store
    assert say("A01", "campaigns lots").kind == "usage"


def test_help_shows_kpi_to_managers_only(say: Say) -> None:
    assert "活动效果" in say("M01", "帮助").plain()
    assert "活动效果" not in say("G01", "帮助").plain()
    assert "Usage: kpi CAMPAIGN" in say("A01", "help kpi").plain()


def test_a_follow_up_during_the_campaign_touches_a_target(say: Say, clock: Clock) -> None:
    assert [f.value for f in say("A01", "kpi D11-2026").fields if f.label == "Touched"] == ["2"]
    clock.now = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # during the window
    assert say("G02", "跟进 王五 电话回访，约了周末试穿").kind == "ok"
    clock.now = TODAY
    touched = [f for f in say("A01", "kpi D11-2026").fields if f.label == "Touched"]
    assert [(f.value, f.change) for f in touched] == [("3", "+3")]  # 王五 (by tag) reached too
