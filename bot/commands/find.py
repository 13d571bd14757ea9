"""Find customers by name, phone, last 4 digits, pinyin, initials, remark or id.
找客户：按姓名、手机号、手机后四位、拼音、首字母、备注或编号。

Usage: find NAME|PHONE|LAST4|PINYIN|#ID
用法：搜 姓名|手机号|后四位|拼音|#编号
e.g. find zs
例：搜 5678
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Action, Item, Reply
from bot.commands.base import Ambiguous, Command, Context, Usage, money
from bot.services import finder


@dataclass(frozen=True)
class Args:
    query: str


def parse(args: list[str]) -> Args:
    query = " ".join(args).strip()
    if not query:
        raise Usage(
            "要找谁？写姓名、手机号或拼音。",
            "Who are you looking for? Give a name, phone or pinyin.",
        )
    return Args(query[:100])


def handle(ctx: Context, args: Args) -> Reply:
    hits = finder.find(ctx.session, args.query, ctx.scope)
    if not hits:
        return Reply(
            text=ctx.say(
                "没有找到“{q}”。试试全名、手机后四位或拼音首字母（如 zs）。",
                "No customer matches '{q}'. Try the full name, the last 4 phone digits or the initials (e.g. zs).",
                q=args.query,
            )
        )
    if len(hits) > 1:
        raise Ambiguous(args.query, hits)  # the dispatcher lists them and waits for a number
    return Reply(
        title=ctx.say("找到 1 位客户", "1 customer found"), items=[hit_item(ctx, 1, hits[0])]
    )


def hit_item(ctx: Context, number: int, hit: finder.Hit, action: Action | None = None) -> Item:
    """One candidate: name, masked phone, value; its button (by default) opens the profile.
    A button names the customer by id, never by position in the list."""
    profile = "查" if ctx.actor.locale == "zh" else "profile"
    action = action or Action(ctx.say("查看", "Profile"), f"{profile} #{hit.id}", "primary")
    return Item(
        number=number,
        title=f"{hit.name or '—'}  {finder.mask_phone(hit.phone)}",
        subtitle=ctx.say(
            "消费 {m} · 最近 {d}",
            "spent {m} · last {d}",
            m=money(hit.spend_cents),
            d=ctx.local(hit.last_order_at),
        ),
        actions=[action],
    )


COMMAND = Command("find", "搜", __doc__ or "", parse, handle)
