"""A small store for chat transcripts: two stores, guides in both languages, a manager of
each store, an admin, a few customers (two of them 'zs'), tag groups open and closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply
from bot.settings import Settings
from storage.base import utcnow
from storage.db import Database
from storage.models import Customer, TagGroup


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


def build_store(api: Callable[..., dict]) -> None:  # type: ignore[type-arg]
    api(
        "stores",
        [{"code": "SH01", "name": "上海南京西路店"}, {"code": "BJ01", "name": "北京三里屯店"}],
    )
    api(
        "staff",
        [
            {"code": "A01", "name": "管理员", "role": "admin"},
            {
                "code": "M01",
                "name": "周经理",
                "role": "manager",
                "store": "SH01",
                "wecom_userid": "zhoujl",
            },
            {"code": "M02", "name": "Chen", "role": "manager", "store": "BJ01", "locale": "en"},
            {
                "code": "G01",
                "name": "王芳",
                "role": "guide",
                "store": "SH01",
                "wecom_userid": "wangfang",
            },
            {"code": "G02", "name": "李娜", "role": "guide", "store": "BJ01"},
            {"code": "G03", "name": "Amy", "role": "guide", "store": "SH01", "locale": "en"},
        ],
    )
    api(
        "customers",
        [
            {
                "name": "张三",
                "phone": "13812345678",
                "member_no": "V001",
                "store": "SH01",
                "guide": "G01",
                "remark": "张三-老客",
            },
            {"name": "张珊", "phone": "13900005678", "store": "SH01", "guide": "G01"},
            {
                "name": "李四",
                "phone": "13700001111",
                "store": "SH01",
                "guide": "G03",
                "wecom_external_userid": "wmLISI0001",
            },
            {"name": "王五", "phone": "13600002222", "store": "BJ01", "guide": "G02"},
        ],
    )
    api(
        "orders",
        [
            {
                "order_no": "O1",
                "phone": "13812345678",
                "ordered_at": "2026-10-01 14:00",
                "paid_cents": 129900,
                "items": [{"sku": "COAT", "name": "羊毛大衣", "quantity": 1, "paid_cents": 129900}],
            },
            {
                "order_no": "O2",
                "phone": "13900005678",
                "ordered_at": "2026-09-01 14:00",
                "paid_cents": 9900,
            },
        ],
    )


def add_tag_groups(db: Database) -> None:
    with db.uow() as uow:
        uow.session.add_all(
            [TagGroup(name="偏好", open=True), TagGroup(name="会员等级", open=False)]
        )
        uow.commit()


def customer_id(db: Database, name: str) -> int:
    with db.session() as s:
        cid = s.scalar(select(Customer.id).where(Customer.name == name))
        assert cid is not None
        return cid


def talker(
    db: Database, settings: Settings, clock: Clock, channel: Channel = Channel.CONSOLE
) -> Callable[[str, str], Reply]:
    dispatcher = Dispatcher(db, settings, clock=clock)

    def say(staff: str, text: str) -> Reply:
        return dispatcher.handle(IncomingMessage(channel, staff, text))

    return say
