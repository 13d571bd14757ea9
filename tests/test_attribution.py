"""Attribution: each order to at most one campaign (coupon → explicit → task → window), task
conversions, re-attribution when a campaign changes, and facts that stay equal to a full
rebuild whatever the order of events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.kpi import config as kpi_config
from bot.kpi import hooks
from bot.settings import Settings
from storage.db import Database
from storage.models import (
    Campaign,
    CampaignAllocation,
    CampaignDay,
    CampaignParticipant,
    Order,
    Task,
)
from storage.models.kpi import DAY_MEASURES
from tests.test_kpi_shop import order, post, shop_client


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[TestClient]:
    with shop_client(settings, db) as client:
        yield client


def credits(db: Database) -> dict[str, tuple[str | None, str | None]]:
    with db.session() as s:
        rows = s.execute(
            select(Order.order_no, Campaign.code, Order.attribution).outerjoin(
                Campaign, Campaign.id == Order.campaign_id
            )
        )
        return {no: (code, rule) for no, code, rule in rows}


def cells(db: Database) -> dict[tuple[Any, ...], tuple[int, ...]]:
    with db.session() as s:
        rows = s.scalars(select(CampaignDay)).all()
        return {
            (c.campaign_id, c.day, c.store_id, c.guide_id): tuple(
                getattr(c, m) for m in DAY_MEASURES
            )
            for c in rows
            if any(getattr(c, m) for m in DAY_MEASURES)
        }


def rebuilt(db: Database) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """The cells a full rebuild gives (in a transaction that is rolled back)."""
    with db.uow() as uow:
        assert hooks.rebuild(uow.session) == 4
        uow.session.flush()
        rows = uow.session.scalars(select(CampaignDay)).all()
        out = {
            (c.campaign_id, c.day, c.store_id, c.guide_id): tuple(
                getattr(c, m) for m in DAY_MEASURES
            )
            for c in rows
            if any(getattr(c, m) for m in DAY_MEASURES)
        }
        uow.rollback()
        return out


EXPECTED = {
    "P1": ("D11-2025", "coupon"),
    "P2": ("D11-2025", "explicit"),
    "O0": (None, None),
    "O9": ("NEW-2026", "explicit"),
    "O1": ("D11-2026", "coupon"),
    "O2": ("D11-2026", "explicit"),
    "O3": ("D11-2026", "coupon"),
    "O4": ("D11-2026", "window"),  # 王五 is targeted by the VIP tag
    "O5": ("D11-2026", "task"),  # after the window, 5 days after a task done during it
    "O6": (None, None),  # in the window, but not targeted
    "O7": (None, None),  # registered, but ordered after the window with no task
    "O8": ("NEW-2026", "coupon"),  # a coupon beats the window of the campaign targeting her
}


def test_each_order_goes_to_at_most_one_campaign_by_the_first_rule(shop: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    assert credits(db) == EXPECTED


def test_a_done_task_is_converted_by_the_next_order_within_the_window(shop, db) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        task = s.scalars(select(Task)).one()
        o5 = s.scalars(select(Order).where(Order.order_no == "O5")).one()
        assert task.converted_order_id == o5.id
        assert task.converted_at == o5.ordered_at


def test_targets_registered_and_tagged_customers(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        d11 = s.scalar(select(Campaign.id).where(Campaign.code == "D11-2026"))
        rows = s.execute(
            select(CampaignParticipant.customer_id, CampaignParticipant.registered_at).where(
                CampaignParticipant.campaign_id == d11, CampaignParticipant.targeted.is_(True)
            )
        ).all()
    assert len(rows) == 3  # 王五 by tag, 赵六 and 钱七 registered
    assert sum(1 for _, at in rows if at is not None) == 2


def test_incremental_facts_equal_a_full_rebuild(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    assert cells(db) == rebuilt(db)


def test_changing_a_campaign_re_credits_its_orders(shop: TestClient, db: Database) -> None:
    # Limit D11-2026 to Beijing: 钱七's task order (Shanghai) falls out; coupons stay.
    row = {"code": "D11-2026", "name": "2026 双十一", "starts_at": "2026-11-01 00:00:00",
           "ends_at": "2026-11-11 23:59:59", "stores": ["BJ01"]}  # fmt: skip
    post(shop, "/api/v1/campaigns", [row])
    assert credits(db) == {**EXPECTED, "O5": (None, None)}
    assert cells(db) == rebuilt(db)
    post(shop, "/api/v1/campaigns", [{**row, "stores": ["BJ01", "SH01"]}])
    assert credits(db) == EXPECTED
    assert cells(db) == rebuilt(db)
    # A later end: 赵六 (registered) ordered on 11-12 and is now in the window.
    post(
        shop,
        "/api/v1/campaigns",
        [{**row, "stores": ["BJ01", "SH01"], "ends_at": "2026-11-12 23:59:59"}],
    )
    assert credits(db)["O7"] == ("D11-2026", "window")
    assert cells(db) == rebuilt(db)


def test_a_refund_follows_its_order_and_a_second_one_adds_up(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    post(shop, "/api/v1/refunds", [
        {"refund_no": "R4", "order_no": "O1", "amount_cents": 40000, "units": 2,
         "refunded_at": "2026-11-12 10:00"},  # the rest of O1: now fully refunded
        {"refund_no": "R5", "order_no": "O6", "amount_cents": 1000,
         "refunded_at": "2026-11-12 10:00"},  # an uncredited order: no campaign moves
    ])  # fmt: skip
    assert cells(db) == rebuilt(db)
    with db.session() as s:
        d11 = s.scalar(select(Campaign.id).where(Campaign.code == "D11-2026"))
        day = s.scalars(
            select(CampaignDay).where(CampaignDay.campaign_id == d11, CampaignDay.orders > 0)
        ).all()
        o1 = next(c for c in day if c.coupons and c.day.day == 2)
        assert (o1.refunds, o1.refund_cents, o1.refund_cost_cents) == (2, 50000, 20000)


def test_a_back_dated_order_makes_a_new_buyer_returning(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    def is_new(name_phone: str) -> bool:
        with db.session() as s:
            d11 = s.scalar(select(Campaign.id).where(Campaign.code == "D11-2026"))
            return bool(
                s.scalar(
                    select(CampaignAllocation.new_buyer)
                    .join(Order, Order.customer_id == CampaignAllocation.customer_id)
                    .where(CampaignAllocation.campaign_id == d11, Order.order_no == name_phone)
                )
            )

    assert is_new("O2")  # 李四's first order ever
    post(shop, "/api/v1/orders", [order("OLD", "c2", "2024-01-01 10:00", 100, 0, 1, "SH01")])
    assert not is_new("O2")
    assert cells(db) == rebuilt(db)


def test_a_merge_counts_the_survivor_once(shop, db: Database) -> None:  # type: ignore[no-untyped-def]
    # 李四 and 孙八 turn out to be one person: one order names both phones.
    from bot.services import identity

    with db.uow() as uow:
        s = uow.session
        ids = {
            n: s.scalar(select(Order.customer_id).where(Order.order_no == n)) for n in ("O2", "O6")
        }
        identity.merge(s, source_id=ids["O6"], target_id=ids["O2"], reason="test")
        hooks.customers_merged(s, ids.values())
        uow.commit()
    assert cells(db) == rebuilt(db)


def test_the_intake_can_tell_the_facts_its_time_zone(db: Database) -> None:
    from datetime import UTC

    with db.uow() as uow:
        s = uow.session
        assert kpi_config.for_session(s) == kpi_config.DEFAULT  # Asia/Shanghai, 14 days
        kpi_config.use(s, tz=UTC)
        assert kpi_config.for_session(s).tz == UTC
        assert kpi_config.for_session(s).task_days == 14
