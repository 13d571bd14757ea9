"""The demo store: CDNOW as purchase history, shifted to end today, on a made-up brand."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from bot.demo import CdnowUnavailable, build_demo, load_cdnow, load_cdnow_columns
from bot.demo import cdnow as cdnow_module
from bot.demo.cdnow import parse
from bot.demo.plan import make_plan
from bot.settings import Settings
from storage.db import Database
from storage.models import (
    Base,
    Campaign,
    CampaignCoupon,
    CampaignStore,
    Customer,
    CustomerIdentity,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    ManagerStore,
    Order,
    OrderItem,
    Refund,
    Staff,
    Store,
    Tag,
    TagGroup,
)

TODAY = date(2025, 3, 15)  # a fixed day keeps the campaign calendar predictable
SUBSET = 300
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
MOBILE = re.compile(r"^1[3-9]\d{9}$")


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _snapshot(db: Database) -> dict[str, object]:
    """Every table's row count, plus the fields a rewrite would touch."""
    with db.session() as s:
        out: dict[str, object] = {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.tables.values()
        }
        out["stats_updated"] = s.scalar(select(func.max(CustomerStats.updated_at)))
        out["customers_updated"] = s.scalar(select(func.max(Customer.updated_at)))
        out["spend"] = s.scalar(select(func.sum(CustomerStats.spend_cents)))
    return out


# --- the CDNOW log ---------------------------------------------------------------------


def test_cdnow_log_is_read_whole_and_typed() -> None:
    txs = load_cdnow()
    assert len(txs) == 69_659
    assert len({t.customer_id for t in txs}) == 23_570
    first = txs[:3]
    assert [(t.customer_id, t.day, t.cds, t.cents) for t in first] == [
        (1, date(1997, 1, 1), 1, 1177),
        (2, date(1997, 1, 12), 1, 1200),
        (2, date(1997, 1, 12), 5, 7700),
    ]
    assert min(t.day for t in txs) == date(1997, 1, 1)
    assert max(t.day for t in txs) == date(1998, 6, 30)
    assert txs is not load_cdnow()  # each caller gets its own list to sort or filter

    cols = load_cdnow_columns()
    assert len(cols) == 69_659
    assert cols.customer_id[:3].tolist() == [1, 2, 2]
    assert cols.day[0] == 0 and max(cols.day) == (date(1998, 6, 30) - date(1997, 1, 1)).days
    assert sum(cols.cents) == sum(t.cents for t in txs)


def test_cdnow_missing_file_says_how_to_repair(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cdnow_module, "DATA_DIR", tmp_path)
    with pytest.raises(CdnowUnavailable, match="Reinstall scrm-assistant"):
        cdnow_module.data_path()


def test_cdnow_ships_with_the_package_not_with_lifetimes() -> None:
    assert cdnow_module.data_path().parent.parent == Path(cdnow_module.__file__).parent
    assert cdnow_module.data_path().with_name("CDNOW_sample.txt").is_file()


def test_cdnow_parser_names_the_bad_line() -> None:
    text = " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n"
    assert len(parse(text)) == 1
    with pytest.raises(CdnowUnavailable, match="line 2"):
        parse(text.replace("11.77", "11.777"))
    with pytest.raises(CdnowUnavailable, match="line 2: bad date"):
        parse(text.replace("19970101", "19971301"))


# --- the plan (no database) ------------------------------------------------------------


def test_history_ends_today_and_starts_545_days_before() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2025, 3, 15, 9, 30, tzinfo=tz)  # the store has been open 30 minutes
    plan = make_plan(load_cdnow(), today=TODAY, tz=tz, now=now)
    days = [o["ordered_at"].date() for o in plan.orders]
    assert max(days) == TODAY and min(days) == TODAY - timedelta(days=545)
    assert max(o["ordered_at"] for o in plan.orders) < now  # nothing happens in the future
    assert len(plan.orders) == 69_659 and len(plan.customers) == 23_570
    assert len({o["order_no"] for o in plan.orders}) == len(plan.orders)
    assert len({c.row["phone"] for c in plan.customers}) == len(plan.customers)
    assert len({c.row["name"] for c in plan.customers}) == len(plan.customers)
    assert 0.015 < len(plan.refunds) / len(plan.orders) < 0.025
    # Three CDNOW rows on one day for one customer are three orders.
    assert [o["order_no"] for o in plan.orders[1:3]] == [
        "CD00002-19970112-1",
        "CD00002-19970112-2",
    ]


def test_a_customer_is_the_same_in_a_subset_and_in_a_larger_one() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    now = datetime(2025, 3, 16, tzinfo=tz)
    txs = load_cdnow()
    small = make_plan(txs, today=TODAY, tz=tz, now=now, customers=50)
    large = make_plan(txs, today=TODAY, tz=tz, now=now, customers=SUBSET)
    assert make_plan(txs, today=TODAY, tz=tz, now=now, customers=50) == small
    by_member = {c.member_no: c for c in large.customers}
    for customer in small.customers:
        twin = by_member[customer.member_no]
        assert twin.row["phone"] == customer.row["phone"]
        assert twin.guide == customer.guide and twin.tags == customer.tags
    assert {o["order_no"] for o in small.orders} <= {o["order_no"] for o in large.orders}


# --- the build -------------------------------------------------------------------------


def test_build_demo_fills_the_store(db: Database, settings: Settings) -> None:
    tz = settings.tz
    summary = build_demo(db, tz=tz, today=TODAY, customers=SUBSET)
    assert summary.built and summary.today == TODAY
    assert (summary.stores, summary.staff, summary.campaigns, summary.tags) == (4, 13, 3, 10)
    assert summary.customers == SUBSET and summary.orders == _count(db, Order) > SUBSET
    assert summary.refunds == _count(db, Refund) > 0 and summary.notes > 0
    assert summary.guide_code == "G101" and summary.manager_code == "M001"

    with db.session() as s:
        stores = set(s.scalars(select(Store.code)))
        assert stores == {"SH01", "BJ01", "GZ01", "CD01"}
        staff = {m.code: m for m in s.scalars(select(Staff))}
        roles = Counter(m.role for m in staff.values())
        assert roles == {"guide": 10, "manager": 2, "admin": 1}
        locales = Counter((m.role, m.locale) for m in staff.values())
        assert locales[("guide", "en")] == locales[("manager", "en")] == 1
        assert locales[("guide", "zh")] == 9 and locales[("manager", "zh")] == 1
        assert all(m.wecom_userid for m in staff.values())
        regions = s.execute(select(ManagerStore.staff_id, ManagerStore.store_id)).all()
        assert {staff_id for staff_id, _ in regions} == {staff["M001"].id, staff["M002"].id}

        customers = s.scalars(select(Customer)).all()
        assert all(CHINESE_NAME.match(c.name or "") for c in customers)
        assert all(MOBILE.match(c.phone or "") for c in customers)
        assert all(c.name_initials and c.store_id and c.guide_id for c in customers)
        kinds = Counter(s.scalars(select(CustomerIdentity.kind)))
        assert kinds["phone"] == kinds["member_no"] == SUBSET
        assert 0 < kinds["wecom_external_userid"] < SUBSET
        relations = s.execute(select(GuideRelation.customer_id, GuideRelation.staff_id)).all()
        assert set(relations) == {(c.id, c.guide_id) for c in customers}
        assert s.scalar(select(func.count()).where(GuideRelation.remark.is_not(None))) > 0

        # Orders: shifted so 1998-06-30 is TODAY, local store hours, one item per order.
        orders = s.scalars(select(Order)).all()
        local_days = [o.ordered_at.astimezone(tz).date() for o in orders]
        assert max(local_days) <= TODAY
        first = s.scalar(select(Order).where(Order.order_no == "CD00001-19970101-1"))
        assert first is not None
        assert first.ordered_at.astimezone(tz).date() == TODAY - timedelta(days=545)
        assert first.paid_cents == 1177 * 7 and first.units == 1
        assert first.ordered_at.tzinfo is not None
        assert all(10 <= o.ordered_at.astimezone(tz).hour < 22 for o in orders)
        assert _count(db, OrderItem) == len(orders)
        assert any(o.coupon_code for o in orders)

        # Stats are exactly what the orders say.
        stats = {st.customer_id: st for st in s.scalars(select(CustomerStats))}
        by_customer: dict[int, list[Order]] = {}
        for o in orders:
            by_customer.setdefault(o.customer_id, []).append(o)
        assert set(stats) == set(by_customer)
        for cid, mine in by_customer.items():
            st = stats[cid]
            assert st.order_count == len(mine)
            assert st.spend_cents == sum(o.paid_cents for o in mine)
            assert st.refund_cents == sum(o.refunded_cents for o in mine)
            assert st.first_order_at == min(o.ordered_at for o in mine)
            assert st.last_order_at == max(o.ordered_at for o in mine)
        refunded = s.scalar(select(func.sum(Refund.amount_cents)))
        assert refunded == sum(o.refunded_cents for o in orders) > 0

        # Tags: open preference group, closed tiers, every customer has a source tag.
        groups = {g.name: g.open for g in s.scalars(select(TagGroup))}
        assert groups == {"偏好": True, "会员等级": False, "来源": False}
        tag_names = set(s.scalars(select(Tag.name)))
        assert {"喜欢红色", "环保", "VIP", "金卡", "银卡", "门店", "小程序", "直播"} <= tag_names
        per_tag = {
            name: n
            for name, n in s.execute(
                select(Tag.name, func.count()).join(CustomerTag).group_by(Tag.name)
            )
        }
        assert sum(per_tag.get(t, 0) for t in ("门店", "小程序", "直播")) == SUBSET
        assert per_tag.get("VIP", 0) > 0

        # Campaigns: last 双十一, last 618, and one running today.
        campaigns = {c.code: c for c in s.scalars(select(Campaign))}
        assert set(campaigns) == {"D11-2024", "618-2024", "RENEW-20250301"}
        d11 = campaigns["D11-2024"]
        assert d11.starts_at.astimezone(tz) == datetime(2024, 11, 1, tzinfo=tz)
        assert d11.previous_campaign_id == campaigns["618-2024"].id
        running = campaigns["RENEW-20250301"]
        assert running.starts_at < datetime(2025, 3, 15, 12, tzinfo=tz) < running.ends_at
        assert running.target_tag_id is not None
        assert _count(db, CampaignCoupon) == 4 and _count(db, CampaignStore) == 2

        notes = s.scalars(select(Interaction).where(Interaction.kind == "note")).all()
        assert notes and all(n.staff_id and n.body for n in notes)


def test_build_demo_twice_changes_nothing(db: Database, settings: Settings) -> None:
    first = build_demo(db, tz=settings.tz, today=TODAY, customers=SUBSET)
    before = _snapshot(db)
    again = build_demo(db, tz=settings.tz, today=TODAY, customers=SUBSET)
    assert not again.built and again.seconds < 5
    assert _snapshot(db) == before
    assert (again.orders, again.customers, again.refunds) == (
        first.orders,
        first.customers,
        first.refunds,
    )
    # A smaller demo is already contained in this one.
    assert not build_demo(db, tz=settings.tz, today=TODAY, customers=100).built


def test_an_interrupted_build_resumes_on_its_own_calendar(db: Database, settings: Settings) -> None:
    build_demo(db, tz=settings.tz, today=TODAY, customers=100)
    before = _snapshot(db)
    # Lose the finished mark, as a crash before the last step would, and come back a day later.
    with db.uow() as uow:
        uow.session.execute(delete(Staff).where(Staff.code == "HQ001"))
        uow.commit()
    again = build_demo(db, tz=settings.tz, today=TODAY + timedelta(days=1), customers=100)
    assert again.built and again.today == TODAY  # the history keeps the day it ended on
    assert _snapshot(db) == before


def test_the_history_cannot_end_in_the_future(db: Database, settings: Settings) -> None:
    with pytest.raises(ValueError, match="future"):
        build_demo(
            db,
            tz=settings.tz,
            today=datetime.now(settings.tz).date() + timedelta(days=2),
            customers=10,
        )
