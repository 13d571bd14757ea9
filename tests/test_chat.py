"""Chat transcripts through the dispatcher: every command, both languages, roles, scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from bot.chat.types import Reply
from bot.settings import Settings
from storage.db import Database
from storage.models import AuditLog, CustomerTag, Interaction, Tag
from tests.chat_fixtures import Clock, add_tag_groups, build_store, customer_id, talker


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def say(api, db: Database, settings: Settings, clock: Clock) -> Callable[[str, str], Reply]:  # type: ignore[no-untyped-def]
    build_store(api)
    add_tag_groups(db)
    return talker(db, settings, clock)


def run(say: Callable[[str, str], Reply], staff: str, text: str) -> str:
    return say(staff, text).plain()


def audit_actions(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(a.action, a.channel) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_help_in_both_languages(say) -> None:  # type: ignore[no-untyped-def]
    zh = run(say, "G01", "帮助")
    assert "打标签" in zh and "找客户" in zh
    en = run(say, "G03", "help")
    assert "tag" in en and "Find customers" in en
    assert "用法：打标签 客户 标签" in run(say, "G01", "帮助 打标签")
    assert "Usage: tag CUSTOMER TAG" in run(say, "G03", "help tag")
    assert "Here is what I can do" in run(say, "G03", "   ")


def test_unknown_user_is_refused_with_how_to_register(say) -> None:  # type: ignore[no-untyped-def]
    reply = say("nobody", "help")
    assert reply.kind == "refusal"
    assert "scrm staff add" in reply.text and "Ask an admin" in reply.text


def test_unknown_command_and_typo(say) -> None:  # type: ignore[no-untyped-def]
    reply = say("G03", "fnd zs")
    assert reply.kind == "usage" and "Did you mean 'find'" in reply.text
    assert "不认识“嗨”" in run(say, "G01", "嗨")


@pytest.mark.parametrize(
    "query", ["13812345678", "138 1234 5678", "张三", "zhangsan", "张三-老客", "V001"]
)
def test_find_names_one_customer_many_ways(say, query: str) -> None:  # type: ignore[no-untyped-def]
    out = run(say, "G01", f"搜 {query}")
    assert "张三" in out and "****5678" in out and "13812345678" not in out


def test_find_by_id_and_external_userid(say, db: Database) -> None:  # type: ignore[no-untyped-def]
    cid = customer_id(db, "李四")
    assert "李四" in run(say, "G03", f"find #{cid}")
    assert "李四" in run(say, "G03", "find wmLISI0001")


def test_ambiguous_query_lists_candidates_and_a_number_picks(say, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    listing = say("G01", "查 zs")
    assert len(listing.items) == 2 and "“zs”有 2 位客户，回复序号选择" in listing.plain()
    first = listing.items[0].title  # most valuable first: 张三 spent more
    assert "张三" in first
    profile = run(say, "G01", "1")
    assert "羊毛大衣×1" in profile and "¥1,299.00" in profile
    assert "没有待选的列表" in run(say, "G01", "1")  # a pick is used once
    say("G01", "搜 5678")  # last 4 digits: both match
    assert "1 到 2" in run(say, "G01", "7")
    clock.advance(301)  # the list expires
    assert "没有待选的列表" in run(say, "G01", "2")


def test_pick_keeps_the_rest_of_the_command(say, db: Database) -> None:  # type: ignore[no-untyped-def]
    say("G01", "打标签 zs 偏好:红色")
    assert "已给 张珊 加上：偏好:红色" in run(say, "G01", "2")


def test_profile_shows_everything_masked_and_audits(say, db: Database) -> None:  # type: ignore[no-untyped-def]
    say("G01", '跟进 张三 "试穿了两件外套，喜欢红色"')
    say("G01", "打标签 张三 偏好:红色")
    out = run(say, "G01", "查 张三")
    for expected in [
        "张三（张三-老客）",
        "****5678",
        "王芳",
        "上海南京西路店",
        "潜客",
        "羊毛大衣×1",
        "偏好: 红色",
        "试穿了两件外套",
        "建议：",
    ]:
        assert expected in out, expected
    assert "13812345678" not in out
    en = run(say, "G03", "profile 李四")
    assert "Phone" in en and "****1111" in en and "no orders yet" in en
    assert ("customer.view", "console") in audit_actions(db)


def test_tag_rules_by_role_idempotence_and_audit(say, db: Database) -> None:  # type: ignore[no-untyped-def]
    assert "已给 张三 加上：偏好:红色" in run(say, "G01", "打标签 张三 偏好:红色")
    assert "本来就有：偏好:红色" in run(
        say, "G01", "打标签 张三 偏好：红色"
    )  # full-width colon too
    refused = say("G01", "打标签 张三 会员等级:钻石")
    assert refused.kind == "error" and "不开放给导购新建标签" in refused.text
    assert "新建标签：会员等级:钻石" in run(say, "M01", "打标签 张三 会员等级:钻石")
    assert "已给 张珊 加上：会员等级:钻石" in run(say, "G01", "打标签 张珊 钻石")  # now it exists
    assert "新建标签：其他:爱运动" in run(say, "G01", "打标签 张三 爱运动")  # default group is open
    assert "没有标签分组“渠道”" in run(say, "G01", "打标签 张三 渠道:抖音")
    assert "Tagged 李四: 偏好:红色, 其他:爱运动" in run(say, "G03", "tag 李四 红色 爱运动 红色")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(CustomerTag)) == 6
        assert s.scalar(select(func.count()).select_from(Tag).where(Tag.name == "渠道")) == 0
    actions = [a for a, _ in audit_actions(db)]
    assert actions.count("tag.add") == 5


def test_untag(say) -> None:  # type: ignore[no-untyped-def]
    say("G01", "打标签 张三 偏好:红色")
    assert "已从 张三 去掉：偏好:红色" in run(say, "G01", "删标签 张三 红色")
    assert "本来就没有：偏好:红色" in run(say, "G01", "删标签 张三 红色")
    assert "没有标签“不存在”" in run(say, "G01", "删标签 张三 不存在")


def test_note_and_usage_without_writes(say, db: Database) -> None:  # type: ignore[no-untyped-def]
    assert "已记录 张三 的跟进" in run(say, "G01", "跟进 张三 电话回访，下周到店")
    usage = say("G01", "跟进 张三")
    assert usage.kind == "usage" and "用法：跟进 客户 内容" in usage.text
    assert "Usage: note CUSTOMER TEXT" in run(say, "G03", "note")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 1


def test_scope_by_role(say, settings: Settings, db: Database, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    assert "没有找到“王五”（或不在你的客户范围内）" in run(
        say, "G01", "查 王五"
    )  # other store's guide
    assert "No customer '张三' among yours" in run(
        say, "G03", "profile 张三"
    )  # same store, not followed
    assert "张三" in run(say, "M01", "查 张三")  # manager of SH01
    assert "No customer" in run(say, "M02", "profile 张三")  # manager of BJ01
    assert "王五" in run(say, "A01", "查 王五") and "张三" in run(say, "A01", "查 张三")
    store_wide = talker(db, settings.model_copy(update={"guide_scope": "store"}), clock)
    assert "张三" in store_wide("G03", "profile 张三").plain()
    assert "No customer" in store_wide("G03", "profile 王五").plain()


def test_a_crash_is_an_apology_and_writes_nothing(
    say, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from bot.services import tagging

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tagging, "add", broken)
    reply = say("G01", "打标签 张三 偏好:红色")
    assert reply.kind == "error" and "没有执行" in reply.text and "disk on fire" not in reply.text
    assert audit_actions(db) == []


def test_scrm_chat_command_and_repl(cli, say) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("chat", "--as", "G01", "--command", "搜 zs")
    assert code == 0 and "张三" in out and "张珊" in out
    code, out = cli("chat", "--as", "ghost", "--command", "help")
    assert code == 3 and "scrm staff add" in out
    code, out = cli("chat", "--as", "G03", input="help\nfind lisi\n\nexit\n")
    assert code == 0
    assert "Here is what I can do" in out and "李四" in out and "****1111" in out
