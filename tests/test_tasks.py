"""Daily task lists end to end: orders → recompute → tasks generate → chat (任务/完成/延后/跳过),
with ranking, caps, idempotence, cooldown, carry-over, expiry, hold-out and moments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply
from bot.lifecycle import recompute
from bot.lifecycle.tasks import generate, in_holdout
from bot.settings import Settings
from storage.db import Database
from storage.models import Customer, CustomerStats, Interaction, Task
from tests.chat_fixtures import Clock

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return settings.model_copy(update={"holdout_percent": 0.0, "tasks_per_guide": 6})


@pytest.fixture
def shop(api, db: Database, cfg: Settings):  # type: ignore[no-untyped-def]
    """30 customers of G01 who buy every 30 days, last seen 50 + 3i days ago, spending more as i grows;
    5 of G03's; then a full recompute as of NOW."""
    api("stores", [{"code": "SH01", "name": "上海店"}])
    api(
        "staff",
        [
            {"code": "M01", "name": "周经理", "role": "manager", "store": "SH01"},
            {"code": "G01", "name": "王芳", "store": "SH01"},
            {"code": "G03", "name": "Amy", "store": "SH01", "locale": "en"},
        ],
    )
    customers, orders = [], []
    for i in range(35):
        guide = "G01" if i < 30 else "G03"
        customers.append(
            {"member_no": f"M{i}", "name": f"客户{i:02d}", "guide": guide, "store": "SH01"}
        )
        last = NOW - timedelta(days=50 + 3 * (i % 30))
        for k in range(5):
            orders.append(
                {
                    "order_no": f"O{i}-{k}",
                    "member_no": f"M{i}",
                    "ordered_at": (last - timedelta(days=30 * k)).isoformat(),
                    "paid_cents": 10_000 * (1 + i),
                    "items": [{"sku": "COAT", "name": "羊毛大衣", "paid_cents": 10_000 * (1 + i)}],
                }
            )
    api("customers", customers)
    assert api("orders", orders)["rejected"] == 0
    recompute.full(db, cfg, NOW, refit=True)
    return db


def stages(db: Database) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(Customer.name, CustomerStats.stage).join(CustomerStats)).all())


def tasks_of(
    db: Database,
    day: date,
    guide_code: str = "G01",
    status: tuple[str, ...] = ("open", "done", "skipped", "snoozed"),
) -> list[tuple[int, str, str]]:
    from storage.models import Staff

    with db.session() as s:
        gid = s.scalar(select(Staff.id).where(Staff.code == guide_code))
        rows = s.execute(
            select(Task.rank, Customer.name, Task.kind)
            .join(Customer, Customer.id == Task.customer_id)
            .where(Task.guide_id == gid, Task.day == day, Task.status.in_(status))
            .order_by(Task.rank)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def reply_guide(s: Session, code: str = "G01") -> int:
    from storage.models import Staff

    gid = s.scalar(select(Staff.id).where(Staff.code == code))
    assert gid is not None
    return gid


def chat(db: Database, cfg: Settings, when: datetime):  # type: ignore[no-untyped-def]
    clock = Clock()
    clock.now = when
    d = Dispatcher(db, cfg, clock=clock)

    def say(staff: str, text: str) -> Reply:
        return d.handle(
            IncomingMessage(Channel.WECOM if staff != "G03" else Channel.SLACK, staff, text)
        )

    return say


def test_churn_risk_first_by_value_then_silent_capped_and_idempotent(
    shop: Database, cfg: Settings
) -> None:
    st = stages(shop)
    assert st["客户00"] == "silent" and st["客户15"] == "churn_risk"
    report = generate(shop, cfg, DAY)
    assert report.created == 11  # 6 for G01 (the cap) + G03's 5 silent customers
    listed = tasks_of(shop, DAY)
    assert [r for r, _, _ in listed] == [1, 2, 3, 4, 5, 6]
    kinds = [k for _, _, k in listed]
    assert set(kinds) == {"churn_risk"}  # the cap is filled by churn risk first
    names = [n for _, n, _ in listed]
    churners = sorted(
        (n for n, s in stages(shop).items() if s == "churn_risk" and int(n[2:]) < 30),
        key=lambda n: -int(n[2:]),
    )
    assert names == churners[:6]  # the most valuable at risk first
    with shop.session() as s:
        before = s.scalar(select(func.count()).select_from(Task))
    again = generate(shop, cfg, DAY)
    assert again.created == 0
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Task)) == before
    assert tasks_of(shop, DAY) == listed


def test_guides_work_their_list_in_chat(api, shop: Database, cfg: Settings) -> None:  # type: ignore[no-untyped-def]
    generate(shop, cfg, DAY)
    say = chat(shop, cfg, NOW)
    listing = say("wangfang-unknown", "任务")
    assert listing.kind == "refusal"
    api("staff", [{"code": "G01", "name": "王芳", "store": "SH01", "wecom_userid": "wangfang"}])
    reply = say("wangfang", "任务")
    # WeCom pages the list (5 a page: one message and one card of buttons).
    assert reply.title == "今日任务 2026-11-20（已完成 0/6） · 第 1/2 页"
    assert [i.number for i in reply.items] == [1, 2, 3, 4, 5]
    assert [a.command for a in reply.actions] == ["任务 2"]
    assert [i.number for i in say("wangfang", "任务 2").items] == [6]
    assert [i.number for i in say("wangfang", "任务2").items] == [6]  # stuck to its argument
    assert (
        reply.items[0].number == 1
        and "流失预警" in reply.items[0].title
        and "年价值" in reply.items[0].title
    )
    with shop.session() as s:
        first = s.scalar(select(Task).where(Task.day == DAY, Task.rank == 1, Task.status == "open"))
        churn = s.scalar(
            select(CustomerStats.churn_probability).where(
                CustomerStats.customer_id == first.customer_id  # type: ignore[union-attr]
            )
        )
    assert churn is not None and f"流失概率 {round(churn * 100)}%" in reply.items[0].title
    assert "您好" in reply.items[0].subtitle or "好久不见" in reply.items[0].subtitle
    with shop.session() as s:
        ids = dict(
            s.execute(
                select(Task.rank, Task.id).where(Task.day == DAY, Task.guide_id == reply_guide(s))
            ).all()
        )
    # Buttons name the task itself; typing a number still means its rank today.
    assert [a.command for a in reply.items[0].actions] == [f"完成 #{ids[1]}", f"延后 #{ids[1]} 3"]
    first = reply.items[0].title.split(" · ")[0]
    assert say("wangfang", "完成 1 约了周六到店").text == f"{first} · 任务完成 ✓"
    assert say("wangfang", "完成 1").text == f"{first} 的任务已于 11-20 完成，没有再改动。"
    assert "延后到 2026-11-23" in say("wangfang", "延后 2 3").text
    usage = say("wangfang", "跳过 3")
    assert usage.kind == "usage" and "原因" in usage.text
    assert say("wangfang", "跳过 3 客户出差").text.endswith(" · 任务已跳过")
    assert "没有第 9 号任务" in say("wangfang", "完成 9").text
    after = "\n".join(say("wangfang", f"任务 {p}").plain() for p in (1, 2))
    assert "✓ " in after and "⏸ " in after and "✗ " in after and "已完成 1/6" in after
    with shop.session() as s:
        note = s.scalar(select(Interaction).where(Interaction.kind == "task"))
        assert note is not None and note.body == "约了周六到店" and note.channel == "wecom"
    api(
        "staff",
        [{"code": "G03", "name": "Amy", "store": "SH01", "locale": "en", "slack_user_id": "U03"}],
    )
    en = chat(shop, cfg, NOW)("G03", "tasks")
    assert en.kind == "refusal"  # G03 talks from Slack under its Slack id
    clock = Clock()
    clock.now = NOW
    amy = Dispatcher(shop, cfg, clock=clock).handle(IncomingMessage(Channel.SLACK, "U03", "tasks"))
    assert amy.title.startswith("Tasks for 2026-11-20") and "silent" in amy.items[0].title
    assert "Hi 客户" in amy.items[0].subtitle


def test_carry_over_then_expiry_and_snooze_return(shop: Database, cfg: Settings) -> None:
    generate(shop, cfg, DAY)
    first = tasks_of(shop, DAY)
    say = chat(shop, cfg, NOW)
    from storage.models import Staff

    with shop.uow() as uow:
        uow.session.execute(
            Staff.__table__.update().where(Staff.code == "G01").values(wecom_userid="wangfang")
        )  # type: ignore[attr-defined]
        uow.commit()
    say("wangfang", "完成 1")
    say("wangfang", "延后 2 2")
    day2 = DAY + timedelta(days=1)
    r2 = generate(shop, cfg, day2)
    assert r2.carried == 4 + 5  # G01's tasks 3..6 and G03's five were left open
    carried = tasks_of(shop, day2)
    assert {n for _, n, _ in carried} >= {n for _, n, _ in first[2:]}
    with shop.session() as s:
        origins = set(
            s.scalars(select(Task.origin_day).where(Task.day == day2, Task.status == "open"))
        )
        assert DAY in origins
    # The customer done on day 1 is in cooldown: not tasked again on day 2.
    assert first[0][1] not in {n for _, n, _ in carried}
    # Snoozed until day 3: back on day 3.
    day3 = DAY + timedelta(days=2)
    generate(shop, cfg, day3)
    assert first[1][1] in {n for _, n, _ in tasks_of(shop, day3)}
    # Carried tasks keep their first day; after task_carry_days (3) they expire.
    for k in range(3, 6):
        report = generate(shop, cfg, DAY + timedelta(days=k))
    assert report.expired > 0
    with shop.session() as s:
        assert s.scalar(select(func.count()).select_from(Task).where(Task.status == "expired")) > 0
        old_open = s.scalar(
            select(func.count())
            .select_from(Task)
            .where(
                Task.status == "open", Task.origin_day < DAY + timedelta(days=5) - timedelta(days=3)
            )
        )
        assert old_open == 0


def test_cooldown_after_a_note(shop: Database, cfg: Settings) -> None:
    with shop.uow() as uow:
        top = uow.session.scalar(select(Customer.id).where(Customer.name == "客户29"))
        uow.session.add(
            Interaction(
                customer_id=top, kind="note", body="刚打过电话", occurred_at=NOW - timedelta(days=2)
            )
        )
        uow.commit()
    generate(shop, cfg, DAY)
    assert "客户29" not in {n for _, n, _ in tasks_of(shop, DAY)}


def test_holdout_is_reproducible_and_never_shown(shop: Database, cfg: Settings) -> None:
    half = cfg.model_copy(update={"holdout_percent": 50.0, "tasks_per_guide": 100})
    report = generate(shop, half, DAY)
    assert report.holdout > 0
    with shop.session() as s:
        held = set(s.scalars(select(Task.customer_id).where(Task.status == "holdout")))
        shown = set(s.scalars(select(Task.customer_id).where(Task.status == "open")))
    assert held and shown and not held & shown
    assert all(in_holdout(c, half) for c in held) and not any(in_holdout(c, half) for c in shown)
    assert {c for c in held | shown if in_holdout(c, half)} == held
    listing = chat(shop, half, NOW)
    from storage.models import Staff

    with shop.uow() as uow:
        uow.session.execute(
            Staff.__table__.update().where(Staff.code == "G01").values(wecom_userid="wangfang")
        )  # type: ignore[attr-defined]
        uow.commit()
    text = listing("wangfang", "任务").plain()
    with shop.session() as s:
        held_names = set(s.scalars(select(Customer.name).where(Customer.id.in_(held))))
    assert not any(name in text for name in held_names)


def test_moments_new_customer_birthday_post_purchase(api, db: Database, cfg: Settings) -> None:  # type: ignore[no-untyped-def]
    api("stores", [{"code": "SH01", "name": "上海店"}])
    api("staff", [{"code": "G01", "name": "王芳", "store": "SH01"}])
    api(
        "customers",
        [
            {"member_no": "N1", "name": "新客", "guide": "G01"},
            {"member_no": "B1", "name": "寿星", "guide": "G01", "birthday": "1990-11-20"},
            {"member_no": "P1", "name": "老客", "guide": "G01"},
        ],
    )
    local = NOW.astimezone(cfg.tz)
    api(
        "orders",
        [
            {
                "order_no": "n1",
                "member_no": "N1",
                "ordered_at": (local - timedelta(days=3)).isoformat(),
                "paid_cents": 100,
            },
            {
                "order_no": "p1",
                "member_no": "P1",
                "ordered_at": (local - timedelta(days=60)).isoformat(),
                "paid_cents": 100,
            },
            {
                "order_no": "p2",
                "member_no": "P1",
                "ordered_at": (local - timedelta(days=14)).isoformat(),
                "paid_cents": 100,
            },
        ],
    )
    report = generate(db, cfg, DAY)
    kinds = {n: k for _, n, k in tasks_of(db, DAY)}
    assert kinds == {"新客": "new_followup", "寿星": "birthday", "老客": "post_purchase"}
    assert report.by_kind == {"new_followup": 1, "birthday": 1, "post_purchase": 1}


def test_scrm_tasks_generate_cli(cli, shop: Database) -> None:  # type: ignore[no-untyped-def]
    code, out = cli("tasks", "generate", "--date", "2026-11-20")
    assert code == 0 and "Tasks for 2026-11-20:" in out and "held out" in out
    code, out = cli("tasks", "generate", "--date", "2026-11-20")
    assert code == 0 and "2026-11-20 already generated" in " ".join(out.split())
    code, out = cli("tasks", "generate", "--date", "20-11-2026")
    assert code == 2 and "YYYY-MM-DD" in out


def test_segment_and_team_for_managers_only(shop: Database, cfg: Settings) -> None:
    generate(shop, cfg, DAY)
    say = chat(shop, cfg, NOW)
    from storage.models import Staff

    with shop.uow() as uow:
        uow.session.execute(
            Staff.__table__.update().where(Staff.code == "M01").values(wecom_userid="zhou")
        )  # type: ignore[attr-defined]
        uow.session.execute(
            Staff.__table__.update().where(Staff.code == "G01").values(wecom_userid="wangfang")
        )  # type: ignore[attr-defined]
        uow.commit()
    assert say("wangfang", "分群 沉默").kind == "refusal"
    seg = say("zhou", "分群 流失预警")
    n_churn = sum(1 for s in stages(shop).values() if s == "churn_risk")
    assert seg.title.startswith(f"流失预警：{n_churn} 位客户")
    assert len(seg.items) == min(10, n_churn)
    assert seg.items[0].title.startswith("客户29")  # most valuable first
    clock = Clock()
    clock.now = NOW
    unknown = Dispatcher(shop, cfg, clock=clock).handle(
        IncomingMessage(Channel.CONSOLE, "M01", "segment nosuchthing")
    )
    assert unknown.kind == "error" and "既不是阶段" in unknown.text  # M01 reads Chinese
    team = say("zhou", "团队").plain()
    assert "王芳" in team and "0/6" in team and "对照组" in team


def test_suggested_messages_read_naturally_in_both_languages() -> None:
    from bot.lifecycle.messages import Facts, suggest

    zh = suggest("churn_risk", Facts("陈瑶悦", "王芳", "百褶半身裙", "喜欢红色", None), "zh")
    assert "特别适合喜欢红色的您" in zh and "喜欢喜欢" not in zh
    assert "和百褶半身裙很搭的新品" in zh
    assert "特别适合喜欢通勤风的您" in suggest(
        "silent", Facts("周帆", "王芳", None, "通勤风", None), "zh"
    )
    assert "特别适合" not in suggest("silent", Facts("周帆", "王芳", None, None, None), "zh")
    en = suggest("churn_risk", Facts("Amy", "Fang", "trench coat", "red", None), "en")
    assert "suit your taste for red" in en and "your trench coat" in en
    # The tag's own verb is not doubled in English either (喜欢 means "likes").
    en = suggest("silent", Facts("Amy", "Fang", None, "喜欢红色", None), "en")
    assert "your taste for 红色" in en and "喜欢" not in en


@pytest.mark.parametrize("locale", ["zh", "en"])
@pytest.mark.parametrize(
    "kind", ["churn_risk", "silent", "new_followup", "birthday", "post_purchase"]
)
def test_no_suggested_message_promises_a_coupon_or_gift(kind: str, locale: str) -> None:
    """No coupon pool exists yet: a message must not promise one (nor a gift)."""
    from bot.lifecycle.messages import Facts, suggest

    for facts in (
        Facts("陈瑶悦", "王芳", "百褶半身裙", "喜欢红色", 90),
        Facts(None, "王芳", None, None, None),
    ):
        text = suggest(kind, facts, locale).lower()
        assert not any(w in text for w in ("券", "礼", "coupon", "voucher", "gift", "discount"))
