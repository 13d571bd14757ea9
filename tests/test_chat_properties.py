"""Arbitrary chat text: the only outcomes are a reply or a usage message; a failed parse
never writes. Covers emoji, full-width characters, quotes and very long strings."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.chat.dispatch import Dispatcher
from bot.chat.text import split
from bot.chat.types import Channel, IncomingMessage
from bot.commands import REGISTRY
from bot.commands.base import Usage
from bot.settings import Settings
from storage.db import Database
from storage.models import AuditLog, ConversationState, CustomerTag, Interaction, Tag
from tests.chat_fixtures import Clock, add_tag_groups, build_store

WORDS = [
    "help",
    "帮助",
    "find",
    "搜",
    "profile",
    "查",
    "tag",
    "打标签",
    "untag",
    "删标签",
    "note",
    "跟进",
    "zs",
    "张三",
    "5678",
    "#1",
    "VIP",
    "偏好:红色",
    "偏好：红色",
    "“",
    "”",
    '"',
    "'",
    "１２",
    "😀",
    "1",
    "2",
]
chat_text = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=8).map(" ".join),
    st.text(alphabet="ＡＢＣ１２３　：，。“”😀👍🏻\u200b\t\n", max_size=50),
    st.just("搜 " + "张" * 5000),
)
fast = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@given(chat_text)
def test_split_never_fails_and_is_bounded(text: str) -> None:
    tokens = split(text)
    assert all(isinstance(t, str) for t in tokens)
    assert sum(len(t) for t in tokens) <= 2000


@given(st.sampled_from(REGISTRY), st.lists(st.text(max_size=30), max_size=6))
def test_parse_is_pure_and_only_raises_usage(cmd, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    try:
        cmd.parse(args)
    except Usage as exc:
        assert exc.zh and exc.en


@pytest.fixture
def dispatcher(api, db: Database, settings: Settings) -> Dispatcher:  # type: ignore[no-untyped-def]
    build_store(api)
    add_tag_groups(db)
    return Dispatcher(db, settings, clock=Clock())


def _writes(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (AuditLog, CustomerTag, Interaction, Tag, ConversationState)
        )


@fast
@given(text=chat_text, staff=st.sampled_from(["G01", "G03", "M01", "A01", "ghost"]))
def test_any_text_gets_a_reply_and_failed_parses_write_nothing(
    dispatcher: Dispatcher, db: Database, text: str, staff: str
) -> None:
    before = _writes(db)
    reply = dispatcher.handle(IncomingMessage(Channel.CONSOLE, staff, text))
    crashed = "出错了" in reply.text or "something went wrong" in reply.text
    assert not crashed, "an unexpected exception reached the dispatcher"
    assert reply.plain().strip()
    if reply.kind in ("usage", "refusal") or (reply.kind == "error"):
        assert _writes(db)[:4] == before[:4]
