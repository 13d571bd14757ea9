"""Show a customer's profile: contact, guide, tags, stage, RFM, spend, notes and tasks.
查客户：联系方式、导购、标签、阶段、RFM、消费、跟进和任务。

Usage: profile CUSTOMER
用法：查 客户
e.g. profile 张三
例：查 5678
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.chat.types import Action, Field, Item, Reply
from bot.commands.base import Command, Context, Usage, money
from bot.commands.taskref import today
from bot.lifecycle import rfm
from bot.lifecycle.messages import KINDS
from bot.lifecycle.stages import NAMES, describe
from bot.services import audit, finder
from storage.models import (
    Customer,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    Order,
    OrderItem,
    Staff,
    Store,
    Tag,
    TagGroup,
    Task,
)


@dataclass(frozen=True)
class Args:
    customer: str


def parse(args: list[str]) -> Args:
    if not args:
        raise Usage("查谁？写姓名、手机号或拼音。", "Whose profile? Give a name, phone or pinyin.")
    return Args(" ".join(args))


# Built once: composing a statement costs more than running it on an indexed lookup.
_HEAD = (
    select(Customer, CustomerStats, Staff.name, Store.name)
    .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
    .outerjoin(Staff, Staff.id == Customer.guide_id)
    .outerjoin(Store, Store.id == Customer.store_id)
    .where(Customer.id == bindparam("cid"))
)
_TAGS = (
    select(TagGroup.name, Tag.name)
    .join(Tag, Tag.group_id == TagGroup.id)
    .join(CustomerTag, CustomerTag.tag_id == Tag.id)
    .where(CustomerTag.customer_id == bindparam("cid"))
    .order_by(TagGroup.name, Tag.name)
)
_LAST_ORDER = (
    select(Order)
    .where(Order.customer_id == bindparam("cid"))
    .order_by(Order.ordered_at.desc())
    .limit(1)
)
_ITEMS = select(OrderItem).where(OrderItem.order_id == bindparam("oid")).limit(5)
_REMARK = (
    select(GuideRelation.remark)
    .where(GuideRelation.customer_id == bindparam("cid"), GuideRelation.remark.is_not(None))
    .order_by((GuideRelation.staff_id == bindparam("sid")).desc())
    .limit(1)
)
_NOTES = (
    select(Interaction.occurred_at, Interaction.body, Staff.name)
    .outerjoin(Staff, Staff.id == Interaction.staff_id)
    .where(Interaction.customer_id == bindparam("cid"), Interaction.kind == "note")
    .order_by(Interaction.occurred_at.desc())
    .limit(3)
)
_TASKS = (
    select(Task, Staff.name)
    .join(Staff, Staff.id == Task.guide_id)
    .where(
        Task.customer_id == bindparam("cid"),
        Task.status == "open",
        Task.day == bindparam("day"),
    )
    .order_by((Task.guide_id == bindparam("sid")).desc(), Task.id)
)


def _tags(session: Session, customer_id: int) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for group, tag in session.execute(_TAGS, {"cid": customer_id}):
        groups.setdefault(group, []).append(tag)
    return groups


def _last_order(session: Session, customer_id: int) -> tuple[Order | None, list[OrderItem]]:
    order = session.scalars(_LAST_ORDER, {"cid": customer_id}).first()
    if order is None:
        return None, []
    return order, list(session.scalars(_ITEMS, {"oid": order.id}))


def handle(ctx: Context, args: Args) -> Reply:
    s = ctx.session
    head = s.execute(_HEAD, {"cid": ctx.customer_id(args.customer)}).one()
    c: Customer = head[0]
    stats: CustomerStats | None = head[1]
    guide_name, store_name = head[2], head[3]
    remark = s.scalar(_REMARK, {"cid": c.id, "sid": ctx.actor.staff_id})
    order, items = _last_order(s, c.id)
    notes = s.execute(_NOTES, {"cid": c.id}).all()
    open_tasks = s.execute(
        _TASKS, {"cid": c.id, "day": today(ctx), "sid": ctx.actor.staff_id}
    ).all()
    tasks = [t for t, _ in open_tasks]
    audit.record(
        s,
        staff_id=ctx.actor.staff_id,
        channel=ctx.actor.channel.value,
        action="customer.view",
        customer_id=c.id,
    )

    zh = ctx.actor.locale == "zh"
    stage_key = stats.stage if stats else "prospect"
    stage = NAMES.get(stage_key, (stage_key, stage_key))[0 if zh else 1]
    if stats and stats.stage_reason:
        stage += f" — {describe(stats.stage_reason, ctx.actor.locale)}"
    fields = [
        Field(ctx.say("手机", "Phone"), finder.mask_phone(c.phone)),
        Field(ctx.say("导购", "Guide"), guide_name or "—"),
        Field(ctx.say("门店", "Store"), store_name or "—"),
        Field(ctx.say("阶段", "Stage"), stage),
        Field("RFM", _rfm(ctx, stats)),
        Field(
            ctx.say("消费", "Spend"),
            ctx.say(
                "{net}（{n} 单，退款 {r}）",
                "{net} ({n} orders, refunds {r})",
                net=money((stats.spend_cents - stats.refund_cents) if stats else 0),
                n=stats.order_count if stats else 0,
                r=money(stats.refund_cents if stats else 0),
            ),
        ),
        Field(ctx.say("最近购买", "Last order"), _order_line(ctx, order, items)),
    ]
    tags = _tags(s, c.id)
    fields.append(
        Field(
            ctx.say("标签", "Tags"),
            "；".join(f"{g}: {', '.join(t)}" for g, t in tags.items()) or "—",
        )
    )
    note_lines = [f"{ctx.local(at, '%m-%d')} {who or ''}: {body}" for at, body, who in notes]
    fields.append(Field(ctx.say("最近跟进", "Recent notes"), "\n".join(note_lines) or "—"))
    items_out = [_task_item(ctx, t, who) for t, who in open_tasks]
    title = c.name or f"#{c.id}"
    if remark and remark != c.name:
        title += f"（{remark}）" if zh else f" ({remark})"
    return Reply(
        title=title,
        fields=fields,
        items=items_out,
        footer=ctx.say("建议：", "Next: ")
        + _suggest(ctx, stats, tasks, notes[0][0] if notes else None),
    )


def _task_item(ctx: Context, task: Task, guide: str | None) -> Item:
    """Today's open task for this customer, numbered by its rank in the guide's list (what
    ``完成 N`` means); its button names the task itself. Another guide's task is shown
    without a button: only its guide completes it."""
    zh = ctx.actor.locale == "zh"
    kind = KINDS.get(task.kind, (task.kind, task.kind))[0 if zh else 1]
    title = ctx.say("今日任务 · {k}", "Today's task · {k}", k=kind)
    actions = []
    if task.guide_id == ctx.actor.staff_id:
        done = "完成" if zh else "done"
        actions = [Action(ctx.say("完成", "Done"), f"{done} #{task.id}", "primary")]
    else:
        title += f" · {guide or '—'}"
    return Item(task.rank, title, task.suggested_message[:80], actions)


def _rfm(ctx: Context, stats: CustomerStats | None) -> str:
    if stats is None or stats.rfm_r is None:
        return "—"
    name = stats.rfm_segment
    if name and ctx.actor.locale == "zh":
        name = rfm.ZH.get(name, name)
    return f"R{stats.rfm_r} F{stats.rfm_f} M{stats.rfm_m}" + (f" · {name}" if name else "")


def _order_line(ctx: Context, order: Order | None, items: list[OrderItem]) -> str:
    if order is None:
        return ctx.say("还没有购买", "no orders yet")
    what = "、".join(f"{i.name or i.sku}×{i.quantity}" for i in items) or "—"
    return f"{ctx.local(order.ordered_at)} {money(order.paid_cents)} {what}"


def _suggest(
    ctx: Context, stats: CustomerStats | None, tasks: list[Task], last_note: datetime | None
) -> str:
    zh = ctx.actor.locale == "zh"
    if tasks:
        return ctx.say(
            "先完成今天的任务：{m}",
            "finish today's task: {m}",
            m=tasks[0].suggested_message[:60]
            or KINDS.get(tasks[0].kind, (tasks[0].kind, tasks[0].kind))[0 if zh else 1],
        )
    # No coupon is suggested: the product issues none yet (coupon pools are planned).
    stage = stats.stage if stats else "prospect"
    if stage in ("churn_risk", "silent"):
        return ctx.say(
            "发一条关怀消息，介绍适合 TA 的新品。",
            "send a personal check-in about new arrivals that suit them.",
        )
    if stage == "prospect":
        return ctx.say("邀请 TA 到店试穿。", "invite them in for a fitting.")
    if stage == "new":
        return ctx.say(
            "回访首单体验，问问尺码和搭配。", "follow up on the first purchase: fit and styling."
        )
    if last_note is None or (ctx.now - last_note).days > 30:
        return ctx.say("一个月没跟进了，记一条跟进。", "no note for a month: log a follow-up.")
    return ctx.say("保持联系，有新品时告诉 TA。", "keep in touch; tell them about new arrivals.")


COMMAND = Command("profile", "查", __doc__ or "", parse, handle, takes_customer=True)
