"""Every KPI against hand-computed values on the shop of ``test_kpi_shop`` (its docstring and
comments give the orders): refunds and partial refunds, coupon / explicit / task / window
attribution, a scope, a period, an empty campaign and a campaign with no predecessor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.kpi import config as kpi_config
from bot.kpi import engine, service
from bot.settings import Settings
from storage.db import Database
from storage.models import Store
from tests.test_kpi_shop import TODAY, shop_client

TODAY_LOCAL = date(2026, 11, 20)


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[TestClient]:
    with shop_client(settings, db) as client:
        yield client


def report(db: Database, code: str, **kw: object) -> engine.Report:
    visible = kw.pop("visible", None)
    roi = str(kw.pop("roi", "gmv"))
    with db.session() as s:
        return service.run(
            s,
            service.KpiRequest(code, **kw),  # type: ignore[arg-type]
            today=TODAY_LOCAL,
            config=kpi_config.DEFAULT,
            roi_definition=roi,
            visible=visible,  # type: ignore[arg-type]
        )


def test_double_eleven_every_kpi_by_hand(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "D11-2026")
    v = r.current.values
    # credited: O1 coupon ¥500, O2 explicit ¥300, O3 coupon ¥200, O4 window ¥400, O5 task ¥250
    assert v["orders"] == 5
    assert v["gross_sales"] == 165000
    # refunds: R1 ¥100 on O1 (price only), R2 ¥400 on O4 (full), R3 ¥150 on O2 (1 of 2 units)
    assert v["refunds"] == 65000
    assert v["net_sales"] == 100000
    # cost 65000, of which back: R2 all of O4 (15000) + R3 half of O2 (6000); R1 none
    assert v["gross_profit"] == 100000 - (65000 - 21000) == 56000
    assert v["margin"] == pytest.approx(0.56)
    assert v["units"] == 8 - 3
    assert v["promotion_cost"] == 200000 + 2 * 10000  # fixed + two ¥100 coupons
    assert v["roi"] == pytest.approx(165000 / 220000)  # GMV / cost
    assert v["roas"] == pytest.approx(100000 / 220000)
    assert v["aov"] == 165000 / 5
    assert v["buyers"] == 4  # 张三, 李四, 王五, 钱七
    assert v["refund_buyers"] == 3  # 张三 (partial), 李四 (partial), 王五 (full)
    assert v["repeat_rate"] == pytest.approx(1 / 4)  # 李四
    assert (v["new_buyers"], v["returning_buyers"]) == (3, 1)  # 张三 bought before
    assert v["registered"] == 2  # 赵六, 钱七
    # funnel: 王五 (tag), 赵六, 钱七 → 赵六 (note), 钱七 (task) → 王五, 钱七 → nobody twice
    assert [v[k] for k in ("targeted", "touched", "purchased", "repurchased")] == [3, 2, 2, 0]
    assert v["conversion"] == pytest.approx(2 / 3)
    assert r.current.totals["task_orders"] == 1 and r.current.totals["window_orders"] == 1
    assert r.current.totals["explicit_orders"] == 1 and r.current.totals["coupons"] == 2


def test_compared_with_the_previous_campaign(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "D11-2026")
    assert r.baseline is not None and r.baseline.campaign.code == "D11-2025"
    assert r.previous is not None
    p = r.previous.values
    # D11-2025: P1 张三 ¥400 with a ¥50 coupon, P2 周九 ¥200 explicit; no refunds
    assert (p["orders"], p["gross_sales"], p["net_sales"], p["buyers"]) == (2, 60000, 60000, 2)
    assert p["promotion_cost"] == 100000 + 5000
    assert p["new_buyers"] == 2 and p["conversion"] is None
    v = r.current.values
    assert engine.change(v["gross_sales"], p["gross_sales"]) == (105000, pytest.approx(1.75))
    assert engine.change(v["buyers"], p["buyers"]) == (2, 1.0)
    assert engine.change(v["registered"], p["registered"]) == (2, None)  # base 0: no %
    assert engine.change(v["conversion"], p["conversion"]) == (None, None)


def test_roi_as_profit_when_so_configured(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    v = report(db, "D11-2026", roi="profit").current.values
    assert v["roi"] == pytest.approx((56000 - 220000) / 220000)


def test_a_manager_sees_their_stores_and_the_cost_is_shared_by_sales(shop, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        sh01 = s.scalar(select(Store.id).where(Store.code == "SH01"))
    r = report(db, "D11-2026", visible=frozenset({sh01}))
    v = r.current.values
    assert (v["orders"], v["gross_sales"], v["net_sales"], v["buyers"]) == (4, 125000, 100000, 3)
    assert v["promotion_cost"] == round(200000 * 125000 / 165000) + 20000
    # targets by home store: 赵六 and 钱七 (王五 lives in Beijing)
    assert [v[k] for k in ("targeted", "touched", "purchased")] == [2, 2, 1]
    assert r.dim == "store" and set(r.names.values()) == {"上海南京西路店"}


def test_store_filter_breaks_down_by_guide(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "D11-2026", store="BJ01")
    v = r.current.values
    assert (v["orders"], v["gross_sales"], v["net_sales"], v["gross_profit"]) == (1, 40000, 0, 0)
    assert v["margin"] is None  # nothing left to have a margin on
    assert r.dim == "guide" and list(r.names.values()) == ["李娜"]
    with pytest.raises(service.Refused):
        report(db, "D11-2026", store="BJ01", visible=frozenset({-5}))


def test_a_period_is_compared_with_the_days_before(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "D11-2026", period="2026-11-03..2026-11-05")
    v = r.current.values
    # O2 (11-03), O4 (11-04), O3 (11-05); refunds follow them: R3 ¥150, R2 ¥400
    assert (v["orders"], v["gross_sales"], v["refunds"], v["buyers"]) == (3, 90000, 55000, 2)
    assert v["registered"] == 0 and v["targeted"] == 0  # they count on 10-25/10-28/11-01
    assert v["promotion_cost"] == round(200000 * 3 / 11) + 10000
    assert r.baseline is not None and r.baseline.kind == "period"
    assert (r.baseline.days.lo, r.baseline.days.hi) == (date(2026, 10, 31), date(2026, 11, 2))
    assert r.previous is not None
    p = r.previous.values
    assert (p["orders"], p["gross_sales"], p["targeted"]) == (1, 50000, 1)  # O1; 王五 on 11-01
    assert p["promotion_cost"] == round(200000 * 2 / 11) + 10000


def test_only_complete_days_are_reported(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "D11-2026", period="7d")  # 11-13..11-19
    assert (r.current.days.lo, r.current.days.hi) == (date(2026, 11, 13), date(2026, 11, 19))
    assert r.current.values["orders"] == 1  # O5 on 11-15
    assert r.previous is None  # 11-06..11-12: nothing credited → nothing to compare
    with pytest.raises(service.Refused):
        report(db, "D11-2026", period="2026-11-20")  # today is not complete


def test_a_campaign_with_no_predecessor(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "NEW-2026")
    v = r.current.values
    # O9 explicit ¥90 (孙八, first order ever) and O8 ¥180 with its coupon after the end (王五,
    # who had bought in D11-2026 before)
    assert (v["orders"], v["gross_sales"], v["buyers"]) == (2, 27000, 2)
    assert (v["new_buyers"], v["returning_buyers"]) == (1, 1)
    assert v["promotion_cost"] == 50000 + 2000
    assert r.baseline is not None and r.baseline.kind == "period"
    assert r.previous is None  # the days before it had nothing: no change shown


def test_an_empty_campaign(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "EMPTY")
    v = r.current.values
    assert v["orders"] == 0 and v["net_sales"] == 0 and v["buyers"] == 0
    for ratio in ("margin", "roi", "roas", "conversion", "aov", "repeat_rate"):
        assert v[ratio] is None, ratio
    assert r.previous is None and r.current.groups == {}


def test_vs_compares_with_any_campaign_on_aligned_days(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    r = report(db, "NEW-2026", vs="D11-2026")
    assert r.previous is not None and r.previous.values["orders"] == 5


def test_campaign_found_by_name_and_unknown_refused(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    assert report(db, "双十一").campaign.code == "D11-2026"  # the latest of two
    assert report(db, "d11-2025").campaign.code == "D11-2025"
    with pytest.raises(service.Refused) as exc:
        report(db, "618")
    assert "活动列表" in exc.value.zh


def test_today_is_the_local_day(shop) -> None:  # type: ignore[no-untyped-def]
    assert TODAY.astimezone(kpi_config.DEFAULT.tz).date() == TODAY_LOCAL
