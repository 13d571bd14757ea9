"""Neutral types shared by every channel. Adapters translate to and from these; the core
never sees a platform payload and never imports a platform SDK."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Locale = Literal["zh", "en"]


class Channel(StrEnum):
    CONSOLE = "console"
    PLAYGROUND = "playground"
    WECOM = "wecom"
    WECHAT = "wechat"
    SLACK = "slack"


@dataclass(frozen=True)
class IncomingMessage:
    """A line of chat text from a user on some channel.

    ``user_id`` is the platform's id for the sender: a WeCom userid, a Slack user id, or a
    staff code on the console and playground.
    """

    channel: Channel
    user_id: str
    text: str
    thread: str | None = None


@dataclass(frozen=True)
class Actor:
    """The staff member behind a message, with what they may see."""

    staff_id: int
    code: str
    name: str
    role: Literal["guide", "manager", "admin"]
    locale: Locale
    channel: Channel
    store_ids: frozenset[int] = frozenset()  # empty for an admin: everything

    @property
    def is_manager(self) -> bool:
        return self.role in ("manager", "admin")


@dataclass(frozen=True)
class Action:
    """A button: its label and the chat command it runs when clicked."""

    label: str
    command: str
    style: Literal["default", "primary", "danger"] = "default"


@dataclass
class Item:
    """A numbered entry (a candidate customer, a task) with optional buttons."""

    number: int
    title: str
    subtitle: str = ""
    actions: list[Action] = field(default_factory=list)


@dataclass
class Field:
    label: str
    value: str
    change: str | None = None  # e.g. "+12.5%" against a previous period


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    png: bytes
    alt: str
    title: str = ""


@dataclass
class Reply:
    """What a command answers. Each channel renders it in its own format."""

    text: str = ""
    title: str = ""
    fields: list[Field] = field(default_factory=list)
    table: Table | None = None
    items: list[Item] = field(default_factory=list)
    chart: Chart | None = None
    footer: str = ""
    kind: Literal["ok", "usage", "error", "refusal"] = "ok"
    # Buttons for the reply as a whole, not one item (e.g. the next page of a list).
    actions: list[Action] = field(default_factory=list)
    # An aggregate answer (KPIs, team, segment counts) a manager may post to a channel; never
    # a customer's profile, notes or tags. Set by the dispatcher from the command.
    shareable: bool = False

    def plain(self) -> str:
        """A plain-text rendering (console, logs, tests, WeCom text fallback)."""
        parts: list[str] = []
        if self.title:
            parts.append(self.title)
        if self.text:
            parts.append(self.text)
        if self.fields:
            width = max(_width(f.label) for f in self.fields)
            parts.append(
                "\n".join(
                    f"{f.label}{' ' * (width - _width(f.label))}  {f.value}"
                    + (f" ({f.change})" if f.change else "")
                    for f in self.fields
                )
            )
        if self.table:
            parts.append(_table_text(self.table))
        for item in self.items:
            line = f"{item.number}. {item.title}"
            if item.subtitle:
                line += f" — {item.subtitle}"
            if item.actions:
                line += "  [" + " | ".join(a.label for a in item.actions) + "]"
            parts.append(line)
        if self.chart:
            parts.append(f"[chart: {self.chart.alt}]")
        if self.actions:
            parts.append("[" + " | ".join(a.label for a in self.actions) + "]")
        if self.footer:
            parts.append(self.footer)
        return "\n".join(parts)


def _width(text: str) -> int:
    """Display width: CJK characters take two columns in a terminal or monospace block."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _table_text(table: Table) -> str:
    cols = len(table.headers)
    widths = [
        max([_width(table.headers[i])] + [_width(r[i]) for r in table.rows if i < len(r)])
        for i in range(cols)
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c + " " * (w - _width(c)) for c, w in zip(cells, widths, strict=False)
        ).rstrip()

    return "\n".join([line(table.headers), *(line(r) for r in table.rows)])
