"""Tag a customer with one or more tags (group:tag to pick the group).
打标签：给客户加一个或多个标签（分组:标签 指定分组）。

Usage: tag CUSTOMER TAG [TAG ...]
用法：打标签 客户 标签 [标签 ...]
e.g. tag 张三 VIP 偏好:红色
例：打标签 5678 会员等级:金卡
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, CommandError, Context, Usage
from bot.services import tagging


@dataclass(frozen=True)
class Args:
    customer: str
    tags: list[str]


def parse(args: list[str]) -> Args:
    tags = [t for t in args[1:] if t.strip()]
    if not args or not tags:
        raise Usage("写上客户和至少一个标签。", "Give the customer and at least one tag.")
    if len(tags) > 20:
        raise Usage("一次最多 20 个标签。", "At most 20 tags at a time.")
    return Args(args[0], tags)


def handle(ctx: Context, args: Args) -> Reply:
    customer = ctx.customer(args.customer)
    try:
        change = tagging.add(
            ctx.session,
            customer.id,
            args.tags,
            staff_id=ctx.actor.staff_id,
            is_manager=ctx.actor.is_manager,
            channel=ctx.actor.channel.value,
            default_group=ctx.settings.default_tag_group,
        )
    except tagging.TagRefused as exc:
        raise CommandError(exc.zh, exc.en) from exc
    return Reply(text=describe(ctx, customer.name or f"#{customer.id}", change, adding=True))


def describe(ctx: Context, who: str, change: tagging.TagChange, *, adding: bool) -> str:
    lines = []
    if change.changed:
        lines.append(
            ctx.say(
                "已给 {who} 加上：{tags}",
                "Tagged {who}: {tags}",
                who=who,
                tags=", ".join(change.changed),
            )
            if adding
            else ctx.say(
                "已从 {who} 去掉：{tags}",
                "Removed from {who}: {tags}",
                who=who,
                tags=", ".join(change.changed),
            )
        )
    if change.unchanged:
        lines.append(
            ctx.say("本来就有：{tags}", "Already had: {tags}", tags=", ".join(change.unchanged))
            if adding
            else ctx.say(
                "本来就没有：{tags}", "Did not have: {tags}", tags=", ".join(change.unchanged)
            )
        )
    if change.created:
        lines.append(
            ctx.say("新建标签：{tags}", "New tags created: {tags}", tags=", ".join(change.created))
        )
    return "\n".join(lines)


COMMAND = Command("tag", "打标签", __doc__ or "", parse, handle, takes_customer=True)
