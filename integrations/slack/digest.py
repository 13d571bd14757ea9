"""KPI digests: what one subscription sends, and enqueuing it.

``send_digest`` is what the scheduler calls (the ``send_digest`` hook): it builds the digest
as the subscriber (their store scope, their language) and enqueues it through the outbox
with the key ``digest:{id}:{local date}``, so a second run the same day is a no-op. An empty
digest (no campaign to report, or nothing happened) is skipped, not sent.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.chat import actors, serialize
from bot.chat.types import Actor, Channel, Field, IncomingMessage, Reply
from bot.kpi import config, definitions, service
from bot.kpi import reply as kpi_reply
from bot.kpi.campaigns import CampaignIndex
from bot.outbox import enqueue
from bot.settings import Settings
from storage.db import Database
from storage.models import DigestSubscription, Staff

DEFAULT_METRICS = ("net_sales", "gross_sales", "buyers", "orders", "conversion", "aov", "roi")
MAX_CAMPAIGNS = 10


def _zone(name: str, settings: Settings) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return settings.tz


def build(s: Session, settings: Settings, sub: DigestSubscription, now: datetime) -> Reply | None:
    """The digest for ``sub`` as of ``now``; None when there is nothing to say."""
    staff = s.get(Staff, sub.staff_id)
    if staff is None or not staff.active:
        return None
    # The subscriber's scope and language, as if they had asked in chat.
    actor = actors.resolve(s, IncomingMessage(Channel.CONSOLE, staff.code, ""))
    if actor is None or not actor.is_manager:
        return None
    cfg = config.from_settings(settings)
    tz = _zone(sub.timezone, settings)
    today = now.astimezone(tz).date()
    visible = None if actor.role == "admin" else actor.store_ids
    index = CampaignIndex.load(s)
    if sub.campaigns:
        codes = list(sub.campaigns)
    else:
        running = [c for c in index if c.covers(now)]
        codes = [c.code for c in sorted(running, key=lambda c: (c.starts_at, c.id), reverse=True)]
    wanted = list(sub.metrics) or list(DEFAULT_METRICS)
    keys = [k.key for k in definitions.catalogue(settings.roi_definition)]
    filters = sub.filters or {}
    sections: list[Field] = []
    for code in codes[:MAX_CAMPAIGNS]:
        try:
            report = service.run(
                s,
                service.KpiRequest(
                    code, store=filters.get("store"), period=filters.get("period") or None
                ),
                today=today,
                config=cfg,
                roi_definition=settings.roi_definition,
                visible=visible,
            )
        except service.Refused:
            continue
        values = report.current.values
        if not any(values.get(k) for k in ("buyers", "orders", "gross_sales", "registered")):
            continue  # nothing happened in this campaign: not worth a line
        full = kpi_reply.build(report, actor.locale, cfg, settings.roi_definition, chart=False)
        picked = [f for k, f in zip(keys, full.fields, strict=False) if k in wanted]
        sections.append(Field(full.title, _lines(picked)))
    if not sections:
        return None
    return Reply(
        title=_say(actor, f"KPI 日报 {today}", f"KPI digest {today}"),
        fields=sections,
        footer=_say(
            actor,
            "变化与上一期活动（或之前等长的时间）对比。发 /kpi 活动编号 看详情。",
            "Changes are against the previous campaign (or the days before). /kpi CODE for details.",
        ),
    )


def _lines(fields: list[Field]) -> str:
    return "\n".join(
        f"{f.label}: {f.value}" + (f" ({f.change})" if f.change else "") for f in fields
    )


def _say(actor: Actor, zh: str, en: str) -> str:
    return zh if actor.locale == "zh" else en


def digest_key(sub: DigestSubscription, now: datetime, settings: Settings) -> str:
    return f"digest:{sub.id}:{now.astimezone(_zone(sub.timezone, settings)).date().isoformat()}"


def send_digest(db: Database, settings: Settings, subscription_id: int, now: datetime) -> str:
    """Build and enqueue one digest; returns what happened, for the job log."""
    with db.uow() as uow:
        s = uow.session
        sub = s.get(DigestSubscription, subscription_id)
        if sub is None:
            return "skipped: no such subscription"
        if sub.paused:
            return "skipped: paused"
        reply = build(s, settings, sub, now)
        if reply is None:
            return "skipped: empty digest"
        enqueue(
            s,
            channel="slack",
            kind="reply",
            target=sub.target,
            payload={"reply": serialize.to_dict(reply)},
            key=digest_key(sub, now, settings),
        )
        s.execute(
            update(DigestSubscription)
            .where(DigestSubscription.id == sub.id)
            .values(last_sent_at=now)
        )
        uow.commit()
        return "enqueued"


def preview(db: Database, settings: Settings, subscription_id: int, now: datetime) -> Reply | None:
    """The digest as it would be sent now (for "Send now"), without enqueuing it."""
    with db.session() as s:
        sub = s.get(DigestSubscription, subscription_id)
        return None if sub is None else build(s, settings, sub, now)
