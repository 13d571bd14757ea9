"""Buttons and numbers act on the thing they were drawn for, and every answer says whom it
acted on (issue 12, section 1), through the dispatcher and ``scrm chat``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select, update

from bot.chat.types import Reply
from bot.chat.words import unstick
from bot.commands import REGISTRY
from bot.commands.base import Usage
from bot.settings import Settings
from storage.db import Database
from storage.models import CustomerStats, Interaction, Staff, Task
from tests.chat_fixtures import Clock, add_tag_groups, build_store, customer_id, talker


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def say(api, db: Database, settings: Settings, clock: Clock) -> Callable[[str, str], Reply]:  # type: ignore[no-untyped-def]
    build_store(api)
    add_tag_groups(db)
    return talker(db, settings, clock)


def add_tasks(db: Database, settings: Settings, clock: Clock, names: list[str]) -> list[int]:
    """Today's tasks for G01 (王芳), ranked in the order given; their ids."""
    day = clock.now.astimezone(settings.tz).date()
    with db.uow() as uow:
        s = uow.session
        guide = s.scalar(select(Staff.id).where(Staff.code == "G01"))
        tasks = [
            Task(
                guide_id=guide,
                customer_id=customer_id(db, name),
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


def status_of(db: Database, task_id: int) -> str:
    with db.session() as s:
        return str(s.scalar(select(Task.status).where(Task.id == task_id)))


def notes(db: Database) -> list[tuple[int, str]]:
    with db.session() as s:
        rows = s.execute(
            select(Interaction.customer_id, Interaction.body)
            .where(Interaction.kind == "note")
            .order_by(Interaction.id)
        )
        return [(int(c), str(b)) for c, b in rows]


# --- the profile's Done button ------------------------------------------------------------


def test_the_profile_done_button_completes_that_customers_task(say, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    zhang_san, zhang_shan = add_tasks(db, settings, clock, ["张三", "张珊"])
    profile = say("G01", "查 张珊")
    (item,) = profile.items
    assert item.number == 2  # its rank in today's list: what "完成 2" means
    assert "流失预警" in item.title and "churn_risk" not in profile.plain()
    (button,) = item.actions
    assert button.command == f"完成 #{zhang_shan}"  # the task itself, not "完成 1"
    assert say("G01", button.command).text == "张珊 · 任务完成 ✓"
    assert status_of(db, zhang_shan) == "done" and status_of(db, zhang_san) == "open"
    # A repeated tap says what happened and changes nothing.
    again = say("G01", button.command)
    today = clock.now.astimezone(settings.tz).strftime("%m-%d")
    assert again.text == f"张珊 的任务已于 {today} 完成，没有再改动。"
    assert status_of(db, zhang_san) == "open"
    with db.session() as s:
        bodies = list(s.scalars(select(Interaction.body).where(Interaction.kind == "task")))
    assert bodies == ["完成任务：流失预警"]  # once, and readable (not "churn_risk")


def test_typed_numbers_keep_meaning_todays_rank(say, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    zhang_san, zhang_shan = add_tasks(db, settings, clock, ["张三", "张珊"])
    assert say("G01", "完成 2").text == "张珊 · 任务完成 ✓"
    assert say("G01", "完成1 约了周六").text == "张三 · 任务完成 ✓"  # stuck to its number
    assert say("G01", "延后 2 3").text.startswith("张珊 的任务已于")
    assert status_of(db, zhang_san) == status_of(db, zhang_shan) == "done"


def test_a_stale_button_follows_its_task_or_says_it_expired(say, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    (yesterday_zhang_san,) = add_tasks(db, settings, clock, ["张三"])
    with db.uow() as uow:  # yesterday's list: 张三 was number 1 ...
        task = uow.session.get(Task, yesterday_zhang_san)
        assert task is not None
        task.day, task.status = task.day - timedelta(days=1), "carried"
        uow.commit()
    # ... today 张珊 is number 1 and 张三, carried over, number 2.
    today_zhang_shan, today_zhang_san = add_tasks(db, settings, clock, ["张珊", "张三"])
    reply = say("G01", f"完成 #{yesterday_zhang_san}")  # yesterday's card's button
    assert reply.text == "张三 · 任务完成 ✓"
    assert status_of(db, today_zhang_san) == "done" and status_of(db, today_zhang_shan) == "open"
    with db.uow() as uow:
        uow.session.execute(
            update(Task).where(Task.id == today_zhang_shan).values(status="expired")
        )
        uow.commit()
    expired = say("G01", f"完成 #{today_zhang_shan}")
    tomorrow = (clock.now.astimezone(settings.tz) + timedelta(days=1)).strftime("%m-%d")
    assert expired.text == f"张珊 的任务已于 {tomorrow} 过期，没有再改动。"
    assert status_of(db, today_zhang_shan) == "expired"


def test_another_guides_task_is_refused(say, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    (task,) = add_tasks(db, settings, clock, ["张三"])
    reply = say("G03", f"done #{task}")
    assert reply.kind == "error" and "not one of yours" in reply.text
    assert status_of(db, task) == "open"
    assert say("G01", "done #x").kind == "usage"


def test_confirmations_name_the_customer_in_english(api, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    build_store(api)
    say = talker(db, settings, clock)
    add_tasks(db, settings, clock, ["张三"])
    with db.uow() as uow:
        uow.session.execute(update(Staff).where(Staff.code == "G01").values(locale="en"))
        uow.commit()
    assert say("G01", "skip 1 moved away").text == "张三 · task skipped"
    assert say("G01", "done 1").text.startswith("张三's task was skipped on ")


# --- pick-lists ---------------------------------------------------------------------------


def test_a_stale_pick_list_acts_on_its_own_customer_once(api, say, db) -> None:  # type: ignore[no-untyped-def]
    first = say("G01", "跟进 zs 约了周六")
    api(
        "customers",
        [
            {"name": "刘洋", "phone": "13500000001", "store": "SH01", "guide": "G01"},
            {"name": "刘洋", "phone": "13500000002", "store": "SH01", "guide": "G01"},
        ],
    )
    say("G01", "跟进 刘洋 已回电")  # a newer list replaces the first one
    shan = first.items[1]
    assert "张珊" in shan.title
    # The old list's second button notes 张珊, not whoever is number 2 in the newer list.
    assert "张珊" in say("G01", shan.actions[0].command).plain()
    assert notes(db) == [(customer_id(db, "张珊"), "约了周六")]
    # The list is used: another of its buttons runs nothing and says what was picked.
    used = say("G01", first.items[0].actions[0].command)
    assert used.text.startswith("这个列表已经选过 张珊，没有再执行")
    assert len(notes(db)) == 1
    # Typing a number picks from the newest list.
    say("G01", "1")
    assert [b for _, b in notes(db)] == ["约了周六", "已回电"]


def test_profile_pick_buttons_are_plain_profile_commands(say, db) -> None:  # type: ignore[no-untyped-def]
    listing = say("G01", "查 zs")
    commands = [i.actions[0].command for i in listing.items]
    assert commands == [
        f"查 #{customer_id(db, '张三')}",
        f"查 #{customer_id(db, '张珊')}",
    ]
    assert "张珊" in say("G01", commands[1]).title and "张三" in say("G01", commands[0]).title


# --- stuck commands -----------------------------------------------------------------------


def test_commands_stuck_to_their_argument(say, cli) -> None:  # type: ignore[no-untyped-def]
    assert say("G01", "查张三").title.startswith("张三")
    assert "张三" in say("G01", "搜zs").plain()
    assert say("G01", "帮助打标签").title == "tag / 打标签"
    assert say("G03", "find李四").plain().count("李四") == 1
    assert say("G01", "查理").kind == "error"  # not a command: a customer query for "理"
    assert say("G03", "helpme").kind == "usage"  # an English word is not split
    code, out = cli("chat", "--as", "G01", "--command", "查张三")
    assert code == 0 and "****5678" in out and "不认识" not in out


NAMES = [n for c in REGISTRY for n in (c.name, c.zh)]


def accepts(word: str, args: list[str]) -> bool:
    cmd = next(c for c in REGISTRY if word.lower() in (c.name, c.zh))
    try:
        cmd.parse(args)
    except Usage:
        return False
    return True


cjk = st.text(alphabet="张三李四王五赵蕾雨琪洁查找搜任务完成活动列表跟进", min_size=1, max_size=6)
argument = st.one_of(
    cjk, st.integers(1, 999).map(str), st.from_regex(r"#[0-9]{1,5}", fullmatch=True)
)


def splits(head: str, rest: list[str]) -> list[list[str]]:
    """Every way ``head`` can be read as a command word plus an argument it accepts."""
    out = []
    for n in sorted(NAMES, key=len, reverse=True):
        tail = head[len(n) :]
        if len(head) <= len(n) or head[: len(n)].lower() != n.lower():
            continue
        if n.isascii() and tail[0].isascii() and (tail[0].isalpha() or tail[0] == "_"):
            continue
        if accepts(n, [tail, *rest]):
            out.append([head[: len(n)], tail, *rest])
    return out


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from(NAMES), argument, st.lists(cjk, max_size=2))
def test_a_stuck_argument_reads_like_a_spaced_one(name: str, arg: str, rest: list[str]) -> None:
    stuck = unstick([name + arg, *rest], NAMES, accepts)
    assert "".join(stuck) == "".join([name + arg, *rest])  # nothing added, nothing lost
    if name + arg in NAMES:
        assert stuck == [name + arg, *rest]  # 活动 + 列表 is the command 活动列表
        return
    options = splits(name + arg, rest)
    if not options:
        assert stuck[0] == name + arg  # only split when the argument is valid
    elif not any(len(o[0]) > len(name) for o in options) and accepts(name, [arg, *rest]):
        assert stuck == [name, arg, *rest]  # the longest command that accepts it
    else:
        assert stuck[0].lower() in NAMES and accepts(stuck[0], stuck[1:])
        assert len(stuck[0]) == len(options[0][0])


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=8), min_size=0, max_size=4))
def test_unstick_never_fails_and_keeps_commands_and_unknown_words(tokens: list[str]) -> None:
    out = unstick(tokens, NAMES, accepts)
    assert "".join(out) == "".join(tokens)
    if tokens and (tokens[0] in NAMES or not any(tokens[0].startswith(n) for n in NAMES)):
        assert out == tokens


# --- raw keys -----------------------------------------------------------------------------


def test_rfm_segment_and_task_kind_are_translated(say, db, settings, clock) -> None:  # type: ignore[no-untyped-def]
    add_tasks(db, settings, clock, ["张三"])
    with db.uow() as uow:
        uow.session.execute(
            update(CustomerStats)
            .where(CustomerStats.customer_id == customer_id(db, "张三"))
            .values(rfm_r=5, rfm_f=5, rfm_m=5, rfm_segment="Champions", stage="churn_risk")
        )
        uow.commit()
    zh = say("G01", "查 张三").plain()
    assert "重要价值" in zh and "流失预警" in zh
    assert "Champions" not in zh and "churn_risk" not in zh
    with db.uow() as uow:
        uow.session.execute(update(Staff).where(Staff.code == "G01").values(locale="en"))
        uow.commit()
    en = talker(db, settings, clock)("G01", "profile 张三").plain()
    assert "Champions" in en and "churn risk" in en and "churn_risk" not in en


def test_a_manager_sees_a_guides_task_on_the_profile_without_its_button(
    say, db, settings, clock
) -> None:  # type: ignore[no-untyped-def]
    add_tasks(db, settings, clock, ["张三"])
    (item,) = say("M01", "查 张三").items
    assert item.title == "今日任务 · 流失预警 · 王芳" and item.actions == []
