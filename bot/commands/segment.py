"""Count customers by lifecycle stage or tag, with the most valuable ones.
分群：按生命周期阶段或标签统计客户，并列出价值最高的客户。

Usage: segment STAGE|TAG [store:CODE]
用法：分群 阶段|标签 [门店:代码]
e.g. segment churn_risk
例：分群 流失预警 门店:SH01
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from bot.chat.types import Item, Reply
from bot.commands.base import Command, CommandError, Context, Usage, money
from bot.lifecycle.stages import NAMES
from bot.services import finder, tagging
from storage.models import Customer, CustomerStats, CustomerTag, Store

STAGE_WORDS = {
    **{k: k for k in NAMES},
    **{zh: k for k, (zh, _) in NAMES.items()},
    **{en.replace(" ", "_"): k for k, (_, en) in NAMES.items()},
    "churn": "churn_risk",
}


@dataclass(frozen=True)
class Args:
    what: str
    store: str | None


def parse(args: list[str]) -> Args:
    store = None
    rest = []
    for arg in args:
        key, sep, value = arg.partition(":")
        if sep and key in ("store", "门店") and value:
            store = value
        else:
            rest.append(arg)
    if len(rest) != 1:
        raise Usage(
            "写一个阶段或标签，例如：分群 沉默", "Give one stage or tag, e.g. segment silent"
        )
    return Args(rest[0], store)


def handle(ctx: Context, args: Args) -> Reply:
    s = ctx.session
    net = (
        func.coalesce(CustomerStats.spend_cents, 0) - func.coalesce(CustomerStats.refund_cents, 0)
    ).label("net")
    q = (
        select(Customer.id, Customer.name, Customer.phone, Customer.store_id, net)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(ctx.scope)
    )
    stage = STAGE_WORDS.get(args.what.lower())
    if stage:
        label = NAMES[stage][0 if ctx.actor.locale == "zh" else 1]
        q = q.where(func.coalesce(CustomerStats.stage, "prospect") == stage)
    else:
        try:
            group, tag, _ = tagging.resolve(
                s,
                args.what,
                may_create=False,
                is_manager=False,
                default_group=ctx.settings.default_tag_group,
            )
        except tagging.TagRefused as exc:
            raise CommandError(
                f"“{args.what}”既不是阶段（潜客/新客/活跃/沉默/流失预警/已流失）也不是已有标签。",
                f"'{args.what}' is neither a stage (prospect/new/active/silent/churn_risk/lost) nor a tag.",
            ) from exc
        label = f"{group.name}:{tag.name}"
        q = q.where(
            Customer.id.in_(select(CustomerTag.customer_id).where(CustomerTag.tag_id == tag.id))
        )
    if args.store:
        sid = s.scalar(select(Store.id).where(Store.code == args.store))
        if sid is None:
            raise CommandError(f"没有门店“{args.store}”。", f"No store '{args.store}'.")
        q = q.where(Customer.store_id == sid)
    sub = q.subquery()
    total, value = s.execute(
        select(func.count(), func.coalesce(func.sum(sub.c.net), 0)).select_from(sub)
    ).one()
    top = s.execute(select(sub).order_by(sub.c.net.desc(), sub.c.id).limit(10)).all()
    return Reply(
        title=ctx.say(
            "{l}：{n} 位客户，累计消费 {v}",
            "{l}: {n} customers, {v} lifetime net spend",
            l=label,
            n=total,
            v=money(int(value)),
        ),
        items=[
            Item(i, f"{r.name or '#' + str(r.id)}  {finder.mask_phone(r.phone)}", money(r.net))
            for i, r in enumerate(top, start=1)
        ],
        footer=ctx.say("按消费从高到低前 10 位。", "Top 10 by net spend.") if top else "",
    )


COMMAND = Command(
    "segment", "分群", __doc__ or "", parse, handle, managers_only=True, shareable=True
)
