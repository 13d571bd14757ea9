"""Remove tags from a customer.
删标签：去掉客户的标签。

Usage: untag CUSTOMER TAG [TAG ...]
用法：删标签 客户 标签 [标签 ...]
e.g. untag 张三 VIP
例：删标签 5678 偏好:红色
"""

from __future__ import annotations

from bot.chat.types import Reply
from bot.commands.base import Command, CommandError, Context
from bot.commands.tag import Args, describe, parse
from bot.services import tagging


def handle(ctx: Context, args: Args) -> Reply:
    customer = ctx.customer(args.customer)
    try:
        change = tagging.remove(
            ctx.session,
            customer.id,
            args.tags,
            staff_id=ctx.actor.staff_id,
            channel=ctx.actor.channel.value,
            default_group=ctx.settings.default_tag_group,
        )
    except tagging.TagRefused as exc:
        raise CommandError(exc.zh, exc.en) from exc
    return Reply(text=describe(ctx, customer.name or f"#{customer.id}", change, adding=False))


COMMAND = Command("untag", "删标签", __doc__ or "", parse, handle, takes_customer=True)
