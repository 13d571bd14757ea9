"""Log a follow-up note on a customer.
记录跟进：给客户写一条跟进备注。

Usage: note CUSTOMER TEXT
用法：跟进 客户 内容
e.g. note 张三 "到店试了两件外套"
例：跟进 5678 电话回访，下周到店
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply
from bot.commands.base import Command, Context, Usage
from bot.services import audit
from storage.models import Interaction

MAX_NOTE = 1000


@dataclass(frozen=True)
class Args:
    customer: str
    text: str


def parse(args: list[str]) -> Args:
    if len(args) < 2 or not " ".join(args[1:]).strip():
        raise Usage("写上客户和跟进内容。", "Give the customer and the note text.")
    text = " ".join(args[1:]).strip()
    if len(text) > MAX_NOTE:
        raise Usage(f"跟进内容最多 {MAX_NOTE} 字。", f"A note has at most {MAX_NOTE} characters.")
    return Args(args[0], text)


def handle(ctx: Context, args: Args) -> Reply:
    customer = ctx.customer(args.customer)
    ctx.session.add(
        Interaction(
            customer_id=customer.id,
            staff_id=ctx.actor.staff_id,
            kind="note",
            channel=ctx.actor.channel.value,
            body=args.text,
            occurred_at=ctx.now,
        )
    )
    audit.record(
        ctx.session,
        staff_id=ctx.actor.staff_id,
        channel=ctx.actor.channel.value,
        action="note.add",
        customer_id=customer.id,
    )
    return Reply(
        text=ctx.say(
            "已记录 {name} 的跟进。",
            "Note saved for {name}.",
            name=customer.name or f"#{customer.id}",
        )
    )


COMMAND = Command("note", "跟进", __doc__ or "", parse, handle, takes_customer=True)
