"""The dispatcher: one message in, one Reply out, on every channel.

It finds the actor, splits the text, routes to a command from the registry, and owns the
unit of work: a command's writes land together when it succeeds and not at all when it
fails. A failed parse never writes. A crash becomes a short apology with a reference the
logs can be searched for, never a stack trace.
"""

from __future__ import annotations

import difflib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from bot.chat import actors, picks, state
from bot.chat.text import split
from bot.chat.types import Actor, IncomingMessage, Reply
from bot.chat.words import unstick
from bot.commands import REGISTRY
from bot.commands.base import Ambiguous, Command, CommandError, Context, NotFound, Usage
from bot.settings import Settings
from storage.base import utcnow
from storage.db import Database

log = logging.getLogger(__name__)
ACTOR_TTL = 60.0  # seconds

REFUSE_UNKNOWN = (
    "你还没有登记为员工，无法使用。请管理员运行 scrm staff add 工号 姓名 --wecom {uid}（或 --slack）登记你。\n"
    "You are not registered as staff yet. Ask an admin to register you: "
    "scrm staff add CODE NAME --wecom {uid} (or --slack {uid})."
)

REFUSE_INACTIVE = (
    "你的员工账号已停用，无法使用。如有疑问请联系店长或管理员。\n"
    "Your staff account has been deactivated, so I can't help. Ask your manager or an admin "
    "if this is a mistake."
)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        commands: list[Command] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.commands = commands if commands is not None else REGISTRY
        self._actors: dict[tuple[str, str], tuple[float, Actor]] = {}
        self._by_name: dict[str, Command] = {}
        for cmd in self.commands:
            self._by_name[cmd.name] = cmd
            self._by_name[cmd.zh] = cmd

    def lookup(self, word: str) -> Command | None:
        return self._by_name.get(word.lower()) or self._by_name.get(word)

    def handle(self, message: IncomingMessage) -> Reply:
        now = self.clock()
        with self.db.uow() as uow:
            actor = self._actor(uow.session, message)
            if actor is None:
                if actors.deactivated(uow.session, message):
                    return Reply(text=REFUSE_INACTIVE, kind="refusal")
                return Reply(text=REFUSE_UNKNOWN.format(uid=message.user_id or "?"), kind="refusal")
            ctx = Context(actor, uow.session, self.settings, now, self.commands)
            try:
                reply = self._route(ctx, message)
            except Exception:
                ref = uuid.uuid4().hex[:8]
                # The command word only: the rest may hold a phone number or a customer's name.
                words = message.text.split()
                log.exception(
                    "command failed (ref %s) for %s: %r and %d more character(s)",
                    ref,
                    actor.code,
                    words[0][:20] if words else "",
                    max(0, len(message.text) - len(words[0] if words else "")),
                )
                uow.rollback()
                return Reply(
                    text=ctx.say(
                        "抱歉，出错了，操作没有执行。请稍后再试；如果一直出错，把编号 {ref} 发给管理员。",
                        "Sorry, something went wrong and nothing was changed. Try again later; "
                        "if it keeps happening, give the admin reference {ref}.",
                        ref=ref,
                    ),
                    kind="error",
                )
            uow.commit()
            return reply

    def _actor(self, session: Session, message: IncomingMessage) -> Actor | None:
        """Staff lookups are cached briefly: a role or store change applies within a minute."""
        key = (message.channel.value, message.user_id)
        hit = self._actors.get(key)
        now = time.monotonic()
        if hit and hit[0] > now:
            # A deactivated member is refused at once, not when the cache entry runs out.
            if actors.still_active(session, hit[1].staff_id):
                return hit[1]
            self._actors.pop(key, None)
            return None
        actor = actors.resolve(session, message)
        if actor is not None:
            if len(self._actors) > 10_000:
                self._actors.clear()
            self._actors[key] = (now + ACTOR_TTL, actor)
        return actor

    def _route(self, ctx: Context, message: IncomingMessage) -> Reply:
        tokens = split(message.text)
        if not tokens:
            return self._help(ctx)
        channel, user = message.channel.value, message.user_id
        via_list = None
        if picks.is_guard(tokens[0]):  # a pick button: its list, then the command it runs
            via_list = tokens[0]
            done = picks.claim(ctx, tokens[0], tokens[1:])
            if done is not None:
                return done
            tokens = tokens[1:]
        elif len(tokens) == 1 and tokens[0].isdigit() and len(tokens[0]) <= 3:
            picked = self._pick(ctx, channel, user, int(tokens[0]))
            if isinstance(picked, Reply):
                return picked
            tokens = picked
        if not tokens:
            return self._help(ctx)
        tokens = unstick(tokens, self._by_name, self._accepts)
        cmd = self.lookup(tokens[0])
        if cmd is None:
            return self._unknown(ctx, tokens[0])
        if cmd.managers_only and not ctx.actor.is_manager:
            return Reply(
                text=ctx.say(
                    "“{c}”只对店长和管理员开放。",
                    "'{c}' is for managers and admins only.",
                    c=tokens[0],
                ),
                kind="refusal",
            )
        try:
            args = cmd.parse(tokens[1:])
        except Usage as exc:
            return Reply(
                text=f"{exc.text(ctx.actor.locale)}\n{cmd.usage(ctx.actor.locale)}", kind="usage"
            )
        try:
            reply = cmd.handle(ctx, args)
        except Ambiguous as exc:
            ctx.session.rollback()  # whatever the command wrote so far is void
            return self._candidates(ctx, channel, user, cmd, tokens, exc)
        except NotFound as exc:
            ctx.session.rollback()
            return Reply(
                text=ctx.say(
                    "没有找到“{q}”（或不在你的客户范围内）。先用“搜 {q}”找一找。",
                    "No customer '{q}' among yours. Try 'find {q}' first.",
                    q=exc.query,
                ),
                kind="error",
            )
        except CommandError as exc:
            ctx.session.rollback()
            return Reply(text=exc.text(ctx.actor.locale), kind="error")
        if cmd.takes_customer and not self._newer_list(ctx, channel, user, via_list):
            state.clear(ctx.session, channel, user)
        reply.shareable = cmd.shareable and reply.kind == "ok"
        return reply

    def _newer_list(self, ctx: Context, channel: str, user: str, via_list: str | None) -> bool:
        """Whether a button of an older list was used while a newer list waits (it stays)."""
        if via_list is None:
            return False
        pending = state.load(ctx.session, channel, user, ctx.now)
        return pending is not None and picks.guard(str(pending.get("list"))) != via_list

    def _accepts(self, word: str, args: list[str]) -> bool:
        cmd = self.lookup(word)
        if cmd is None:
            return False
        try:
            cmd.parse(args)
        except Usage:
            return False
        return True

    def _pick(self, ctx: Context, channel: str, user: str, number: int) -> list[str] | Reply:
        pending = state.load(ctx.session, channel, user, ctx.now)
        if not pending:
            return Reply(
                text=ctx.say(
                    "没有待选的列表了，请重新搜索。", "There is no list to pick from; search again."
                ),
                kind="usage",
            )
        candidates: list[int] = pending["candidates"]
        if not 1 <= number <= len(candidates):
            return Reply(
                text=ctx.say(
                    "请回复 1 到 {n} 之间的序号。",
                    "Reply with a number from 1 to {n}.",
                    n=len(candidates),
                ),
                kind="usage",
            )
        command = picks.command(pending, candidates[number - 1])
        guard = pending.get("list")
        if guard and pending["command"] != "profile":
            done = picks.claim(ctx, picks.guard(guard), command)
            if done is not None:
                return done
        return command

    def _candidates(
        self, ctx: Context, channel: str, user: str, cmd: Command, tokens: list[str], exc: Ambiguous
    ) -> Reply:
        if cmd.takes_customer:
            command, rest = cmd.name, tokens[2:]
        else:  # find: a pick opens the profile
            command, rest = "profile", []
        pending = {
            "list": picks.new_id(),
            "command": command,
            "rest": rest,
            "candidates": [h.id for h in exc.hits],
        }
        state.save(
            ctx.session, channel, user, pending, ctx.now, self.settings.chat_state_ttl_seconds
        )
        return Reply(
            title=ctx.say(
                "“{q}”有 {n} 位客户，回复序号选择：",
                "{n} customers match '{q}'; reply with a number:",
                q=exc.query,
                n=len(exc.hits),
            ),
            items=[
                picks.item(ctx, pending, i, h, pick=cmd.takes_customer)
                for i, h in enumerate(exc.hits, start=1)
            ],
        )

    def _unknown(self, ctx: Context, word: str) -> Reply:
        names = [
            n for n in self._by_name if ctx.actor.is_manager or not self._by_name[n].managers_only
        ]
        close = difflib.get_close_matches(word.lower(), names, n=1, cutoff=0.6)
        hint = ctx.say("你是不是想用“{c}”？", "Did you mean '{c}'? ", c=close[0]) if close else ""
        short = (
            "、".join(c.zh for c in self._visible(ctx.actor))
            if ctx.actor.locale == "zh"
            else ", ".join(c.name for c in self._visible(ctx.actor))
        )
        return Reply(
            text=hint
            + ctx.say(
                "不认识“{w}”。可用命令：{s}。发“帮助”看说明。",
                "I don't know '{w}'. Commands: {s}. Send 'help' for details.",
                w=word[:30],
                s=short,
            ),
            kind="usage",
        )

    def _visible(self, actor: Actor) -> list[Command]:
        return [c for c in self.commands if actor.is_manager or not c.managers_only]

    def _help(self, ctx: Context) -> Reply:
        help_cmd = self._by_name["help"]
        return help_cmd.handle(ctx, help_cmd.parse([]))
