"""A small shop whose campaign KPIs are worked out by hand (the numbers in the comments),
built through the real intake API. The other KPI test modules import ``build_shop``.

Campaigns (Asia/Shanghai):
- D11-2025  2025-11-01..11-11, fixed ¥1,000, coupon D25-50 (¥50)
- D11-2026  2026-11-01..11-11, fixed ¥2,000, coupon D26-100 (¥100), targets tag 会员等级:VIP,
            previous D11-2025
- NEW-2026  2026-10-01..10-07, BJ01 only, fixed ¥500, coupon NEW-20 (¥20), no predecessor
- EMPTY     2026-09-01..09-03, nothing happens

Customers: c1 张三 (bought before), c2 李四 (new), c3 王五 (VIP, BJ01), c4 赵六 (registered,
touched by a note), c5 钱七 (registered, task done 11-10, orders 11-15), c6 孙八 (not
targeted), c7 周九 (bought in 2025).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.api import campaigns as campaigns_api
from bot.app import create_app
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, CustomerTag, Interaction, Staff, Tag, TagGroup, Task
from tests.conftest import TOKEN

TZ = ZoneInfo("Asia/Shanghai")
TODAY = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 on 2026-11-20 in Shanghai

PHONES = {
    "c1": "13800000001",
    "c2": "13800000002",
    "c3": "13800000003",
    "c4": "13800000004",
    "c5": "13800000005",
    "c6": "13800000006",
    "c7": "13800000007",
}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


@contextmanager
def kpi_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An API client with the campaigns router mounted (bot/app.py mounts it in the app)."""
    app = create_app(settings, db)
    if not any(getattr(r, "path", "").startswith("/api/v1/campaigns/") for r in app.routes):
        app.include_router(campaigns_api.router)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {TOKEN}"
        yield c


@contextmanager
def shop_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with kpi_client(settings, db) as client:
        build_shop(client, db)
        yield client


def post(client: TestClient, path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post(path, json=rows)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["rejected"] == 0, body
    return body


def order(
    no: str, who: str, at: str, paid: int, cost: int, units: int, store: str, **extra: Any
) -> dict[str, Any]:
    return {
        "order_no": no,
        "phone": PHONES[who],
        "ordered_at": at,
        "paid_cents": paid,
        "cost_cents": cost,
        "units": units,
        "store": store,
        **extra,
    }


# fmt: off
def build_shop(client: TestClient, db: Database) -> None:
    post(client, "/api/v1/stores", [
        {"code": "SH01", "name": "上海南京西路店"},
        {"code": "BJ01", "name": "北京三里屯店"},
    ])
    post(client, "/api/v1/staff", [
        {"code": "A01", "name": "管理员", "role": "admin", "locale": "en"},
        {"code": "M01", "name": "周经理", "role": "manager", "store": "SH01"},
        {"code": "M02", "name": "Chen", "role": "manager", "store": "BJ01", "locale": "en"},
        {"code": "G01", "name": "王芳", "role": "guide", "store": "SH01"},
        {"code": "G02", "name": "李娜", "role": "guide", "store": "BJ01"},
    ])
    post(client, "/api/v1/customers", [
        {"name": "张三", "phone": PHONES["c1"], "store": "SH01", "guide": "G01"},
        {"name": "李四", "phone": PHONES["c2"], "store": "SH01", "guide": "G01"},
        {"name": "王五", "phone": PHONES["c3"], "store": "BJ01", "guide": "G02"},
        {"name": "赵六", "phone": PHONES["c4"], "store": "SH01", "guide": "G01"},
        {"name": "钱七", "phone": PHONES["c5"], "store": "SH01", "guide": "G01"},
        {"name": "孙八", "phone": PHONES["c6"], "store": "SH01"},
        {"name": "周九", "phone": PHONES["c7"], "store": "SH01"},
    ])
    with db.uow() as uow:
        s = uow.session
        group = TagGroup(name="会员等级")
        s.add(group)
        s.flush()
        vip = Tag(group_id=group.id, name="VIP")
        s.add(vip)
        s.flush()
        s.add(CustomerTag(customer_id=cid(s, "王五"), tag_id=vip.id))
        uow.commit()
    post(client, "/api/v1/campaigns", [
        {"code": "D11-2025", "name": "2025 双十一", "starts_at": "2025-11-01 00:00:00",
         "ends_at": "2025-11-11 23:59:59", "fixed_cost_cents": 100000,
         "coupons": [{"code": "D25-50", "value_cents": 5000}]},
        {"code": "NEW-2026", "name": "北京新店开业", "starts_at": "2026-10-01 00:00:00",
         "ends_at": "2026-10-07 23:59:59", "fixed_cost_cents": 50000, "stores": ["BJ01"],
         "coupons": [{"code": "NEW-20", "value_cents": 2000}]},
        {"code": "EMPTY", "name": "空活动", "starts_at": "2026-09-01 00:00:00",
         "ends_at": "2026-09-03 23:59:59"},
        {"code": "D11-2026", "name": "2026 双十一", "starts_at": "2026-11-01 00:00:00",
         "ends_at": "2026-11-11 23:59:59", "fixed_cost_cents": 200000,
         "coupons": [{"code": "D26-100", "value_cents": 10000}],
         "target_tag": "会员等级:VIP", "previous": "D11-2025"},
    ])
    post(client, "/api/v1/campaigns/D11-2026/participants", [
        {"phone": PHONES["c4"], "registered_at": "2026-10-25 10:00"},
        {"phone": PHONES["c5"], "registered_at": "2026-10-28 10:00"},
    ])
    with db.uow() as uow:
        s = uow.session
        g01 = s.scalar(select(Staff.id).where(Staff.code == "G01"))
        assert g01 is not None
        s.add(Task(guide_id=g01, customer_id=cid(s, "钱七"), day=local("2026-11-10").date(),
                   kind="silent", status="done", done_at=local("2026-11-10 15:00")))
        s.add(Interaction(customer_id=cid(s, "赵六"), staff_id=g01, kind="note",
                          body="试穿", occurred_at=local("2026-11-05 16:00")))
        uow.commit()
    # History first: c1 and c7 in D11-2025, c1 again in June, c6 in NEW-2026.
    post(client, "/api/v1/orders", [
        order("P1", "c1", "2025-11-03 10:00", 40000, 16000, 2, "SH01", guide="G01",
              coupon_code="D25-50"),
        order("P2", "c7", "2025-11-05 10:00", 20000, 8000, 1, "SH01", campaign="D11-2025"),
        order("O0", "c1", "2026-06-01 10:00", 10000, 4000, 1, "SH01"),
        order("O9", "c6", "2026-10-03 12:00", 9000, 3000, 1, "BJ01", guide="G02",
              campaign="NEW-2026"),
    ])
    post(client, "/api/v1/orders", [
        order("O1", "c1", "2026-11-02 10:00", 50000, 20000, 2, "SH01", guide="G01",
              coupon_code="D26-100", discount_cents=10000),  # coupon
        order("O2", "c2", "2026-11-03 12:00", 30000, 12000, 2, "SH01", guide="G01",
              campaign="D11-2026"),  # explicit
        order("O3", "c2", "2026-11-05 12:00", 20000, 8000, 1, "SH01", guide="G01",
              coupon_code="D26-100"),  # coupon; c2 repeats
        order("O4", "c3", "2026-11-04 20:00", 40000, 15000, 2, "BJ01", guide="G02"),  # window
        order("O6", "c6", "2026-11-06 12:00", 10000, 4000, 1, "SH01"),  # not targeted
        order("O7", "c4", "2026-11-12 12:00", 15000, 5000, 1, "SH01"),  # after the window
        # c3 is targeted by D11-2026 and in its window, but NEW-2026's coupon wins
        order("O8", "c3", "2026-11-07 12:00", 18000, 6000, 1, "BJ01", guide="G02",
              coupon_code="NEW-20"),
    ])
    post(client, "/api/v1/orders", [
        order("O5", "c5", "2026-11-15 18:00", 25000, 10000, 1, "SH01", guide="G01"),  # task
    ])
    post(client, "/api/v1/refunds", [
        {"refund_no": "R1", "order_no": "O1", "amount_cents": 10000, "units": 0,
         "refunded_at": "2026-11-08 10:00"},  # price adjustment: no cost back
        {"refund_no": "R2", "order_no": "O4", "amount_cents": 40000, "units": 2,
         "refunded_at": "2026-11-09 10:00"},  # full refund: all cost back
        {"refund_no": "R3", "order_no": "O2", "amount_cents": 15000, "units": 1,
         "refunded_at": "2026-11-10 10:00"},  # 1 of 2 units back: half the cost back
    ])
# fmt: on


def cid(session: Any, name: str) -> int:
    found = session.scalar(select(Customer.id).where(Customer.name == name))
    assert found is not None
    return int(found)


@pytest.fixture
def shop(settings: Settings, db: Database) -> Iterator[TestClient]:
    with shop_client(settings, db) as client:
        yield client


def test_the_shop_builds(shop: TestClient, db: Database) -> None:
    with db.session() as s:
        assert s.scalar(select(Task.converted_order_id)) is not None
