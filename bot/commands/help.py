"""List the commands, or explain one.
帮助：列出命令，或说明某个命令。

Usage: help [COMMAND]
用法：帮助 [命令]
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat.types import Reply, Table
from bot.commands.base import Command, Context


@dataclass(frozen=True)
class Args:
    topic: str | None


def parse(args: list[str]) -> Args:
    return Args(args[0].lower() if args else None)


def handle(ctx: Context, args: Args) -> Reply:
    loc = ctx.actor.locale
    visible = [c for c in ctx.commands if ctx.actor.is_manager or not c.managers_only]
    if args.topic:
        for cmd in visible:
            if args.topic in (cmd.name, cmd.zh):
                return Reply(
                    title=f"{cmd.name} / {cmd.zh}",
                    text="\n".join([cmd.summary(loc), cmd.usage(loc), *cmd.examples(loc)]),
                )
    rows = [[cmd.zh if loc == "zh" else cmd.name, cmd.summary(loc)] for cmd in visible]
    return Reply(
        title=ctx.say("你可以这样问我", "Here is what I can do"),
        table=Table([ctx.say("命令", "command"), ctx.say("说明", "what it does")], rows),
        footer=ctx.say(
            "“帮助 命令”看用法；中英文命令都可以。",
            "'help COMMAND' for usage; Chinese names work too.",
        ),
    )


COMMAND = Command("help", "帮助", __doc__ or "", parse, handle)
