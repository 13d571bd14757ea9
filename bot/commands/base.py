"""What every command module builds on: the command spec, its context, and the errors a
command raises to get a usage message, a refusal or a pick-list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from bot.chat.types import Actor, Locale, Reply
from bot.services import finder, scope
from bot.settings import Settings
from storage.models import Customer


class Said(Exception):
    """An exception carrying a sentence in both languages."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en

    def text(self, locale: Locale) -> str:
        return self.zh if locale == "zh" else self.en


class Usage(Said):
    """The arguments do not fit the command: answer with its usage line."""


class CommandError(Said):
    """The command cannot do what was asked: say why and what to do instead."""


class NotFound(Exception):
    def __init__(self, query: str) -> None:
        super().__init__(query)
        self.query = query


class Ambiguous(Exception):
    """Several customers match: the dispatcher lists them and waits for a number."""

    def __init__(self, query: str, hits: list[finder.Hit]) -> None:
        super().__init__(query)
        self.query, self.hits = query, hits


@dataclass
class Context:
    actor: Actor
    session: Session
    settings: Settings
    now: datetime
    commands: list[Command]

    def say(self, zh: str, en: str, **values: Any) -> str:
        return (zh if self.actor.locale == "zh" else en).format(**values)

    @property
    def scope(self) -> ColumnElement[Any]:
        a = self.actor
        return scope.visible(a.role, a.staff_id, a.store_ids, self.settings.guide_scope)

    def customer_id(self, query: str) -> int:
        """The id of the one customer ``query`` names within the actor's scope."""
        hits = finder.find(self.session, query, self.scope)
        if not hits:
            raise NotFound(query)
        if len(hits) > 1:
            raise Ambiguous(query, hits)
        return hits[0].id

    def customer(self, query: str) -> Customer:
        """The one customer ``query`` names within the actor's scope."""
        customer = self.session.get(Customer, self.customer_id(query))
        assert customer is not None
        return customer

    def local(self, at: datetime | None, fmt: str = "%Y-%m-%d") -> str:
        return at.astimezone(self.settings.tz).strftime(fmt) if at else "—"


@dataclass(frozen=True)
class Command:
    """A chat command. The module's docstring is its help:

    line 1 English summary, line 2 Chinese summary, then ``Usage:`` and ``用法：`` lines,
    then examples.
    """

    name: str
    zh: str
    doc: str
    parse: Callable[[list[str]], Any]
    handle: Callable[[Context, Any], Reply]
    managers_only: bool = False
    takes_customer: bool = False  # the first argument names a customer (pick-by-number)
    # An aggregate answer (KPIs, team, segment counts) may be shared to a channel as shown;
    # a customer's profile, notes or tags never are.
    shareable: bool = False

    def summary(self, locale: Locale) -> str:
        lines = [ln.strip() for ln in self.doc.strip().splitlines()]
        return lines[1] if locale == "zh" and len(lines) > 1 else lines[0]

    def usage(self, locale: Locale) -> str:
        prefix = "用法：" if locale == "zh" else "Usage:"
        for line in self.doc.splitlines():
            if line.strip().startswith(prefix):
                return line.strip()
        return prefix

    def examples(self, locale: Locale) -> list[str]:
        prefix = "例：" if locale == "zh" else "e.g."
        return [ln.strip() for ln in self.doc.splitlines() if ln.strip().startswith(prefix)]


def money(cents: int | None) -> str:
    return f"¥{(cents or 0) / 100:,.2f}"
