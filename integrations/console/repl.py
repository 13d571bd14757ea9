"""``scrm chat --as STAFF``: talk to the bot in a terminal, exactly as a guide would in WeCom."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply

_STYLE = {"ok": "", "usage": "yellow", "error": "red", "refusal": "red"}


def render(reply: Reply) -> str:
    return reply.plain()


def ask(dispatcher: Dispatcher, staff_code: str, text: str) -> Reply:
    return dispatcher.handle(IncomingMessage(Channel.CONSOLE, staff_code, text))


def repl(
    dispatcher: Dispatcher, staff_code: str, console: Console, read: Callable[[str], str] = input
) -> None:
    console.print(
        f"[bold]scrm chat[/bold] as {staff_code}. Type 'help' / '帮助'; Ctrl-D or 'exit' quits."
    )
    while True:
        try:
            line = read("> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if line.strip().lower() in {"exit", "quit", "退出"}:
            return
        if not line.strip():
            continue
        reply = ask(dispatcher, staff_code, line)
        style = _STYLE[reply.kind]
        console.print(render(reply), style=style or None, markup=False, highlight=False)
