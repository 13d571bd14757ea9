"""App Home: a manager's overview for today, a guide's task list.

Manager: KPIs of the running campaigns in their stores, today's task completion per guide,
and the value at risk (open churn-risk and silent tasks today) by store; then their digest
subscriptions. Guide: the ``tasks`` reply, with its buttons.

The overview is assembled from the core's services as neutral ``Reply`` objects and only
rendered here, so another channel could show the same overview.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.chat import actors
from bot.chat.types import Action, Actor, Channel, Field, IncomingMessage, Item, Reply, Table
from bot.commands.base import money
from bot.kpi import config, definitions, service
from bot.kpi import reply as kpi_reply
from bot.kpi.campaigns import CampaignIndex
from bot.lifecycle.outcomes import team
from bot.settings import Settings
from integrations.slack.render import Block, blocks
from storage.db import Database
from storage.models import Customer, DigestSubscription, Store, Task

HOME_KPIS = ("net_sales", "buyers", "conversion", "roi")
MAX_CAMPAIGNS = 5
MAX_VIEW_BLOCKS = 100  # a Home tab view holds at most 100 blocks ("Views" reference)
NEW_DIGEST = "scrm_digest_new"
DIGEST_PREFIX = "scrm_digest_"


def _say(actor: Actor, zh: str, en: str) -> str:
    return zh if actor.locale == "zh" else en


def campaign_replies(s: Session, settings: Settings, actor: Actor, now: datetime) -> list[Reply]:
    cfg = config.from_settings(settings)
    visible = None if actor.role == "admin" else actor.store_ids
    today = now.astimezone(cfg.tz).date()
    keys = [k.key for k in definitions.catalogue(settings.roi_definition)]
    running = [
        c
        for c in CampaignIndex.load(s)
        if c.covers(now) and (visible is None or not c.stores or c.stores & visible)
    ]
    out = []
    for c in sorted(running, key=lambda c: (c.starts_at, c.id), reverse=True)[:MAX_CAMPAIGNS]:
        try:
            report = service.run(
                s,
                service.KpiRequest(c.code),
                today=today,
                config=cfg,
                roi_definition=settings.roi_definition,
                visible=visible,
            )
        except service.Refused:
            continue
        full = kpi_reply.build(report, actor.locale, cfg, settings.roi_definition, chart=False)
        fields = [f for k, f in zip(keys, full.fields, strict=False) if k in HOME_KPIS]
        kpi = "活动" if actor.locale == "zh" else "kpi"
        out.append(
            Reply(
                title=full.title,
                fields=fields,
                items=[
                    Item(1, _say(actor, "详情", "Details"), "", [Action("KPI", f"{kpi} {c.code}")])
                ],
            )
        )
    return out


def team_reply(s: Session, settings: Settings, actor: Actor, now: datetime) -> Reply:
    stores = None if actor.role == "admin" else actor.store_ids
    today = now.astimezone(settings.tz).date()
    rows = team(s, stores, today, 1, settings.task_attribution_days, settings.tz)
    table = Table(
        [_say(actor, "导购", "Guide"), _say(actor, "今日完成", "Done today")],
        [[g.name, f"{g.today_done}/{g.today_total}"] for g in rows if g.today_total],
    )
    done, total = sum(g.today_done for g in rows), sum(g.today_total for g in rows)
    return Reply(
        title=_say(actor, "今日任务完成", "Task completion today"),
        text=_say(actor, f"合计 {done}/{total}", f"Overall {done}/{total}"),
        table=table if table.rows else None,
    )


def at_risk_reply(s: Session, settings: Settings, actor: Actor, now: datetime) -> Reply:
    today = now.astimezone(settings.tz).date()
    q = (
        select(Store.name, func.sum(Task.value_at_risk_cents), func.count())
        .join(Customer, Customer.id == Task.customer_id)
        .join(Store, Store.id == Customer.store_id)
        .where(
            Task.day == today,
            Task.status == "open",
            Task.kind.in_(("churn_risk", "silent")),
        )
        .group_by(Store.name)
        .order_by(func.sum(Task.value_at_risk_cents).desc())
    )
    if actor.role != "admin":
        q = q.where(Customer.store_id.in_(actor.store_ids or {-1}))
    rows = s.execute(q).all()
    return Reply(
        title=_say(actor, "风险价值（按门店）", "Value at risk by store"),
        text=_say(
            actor,
            "今天未完成的流失预警和沉默客户任务的年价值。",
            "Yearly value of today's open churn-risk and silent customer tasks.",
        ),
        fields=[
            Field(str(name), _say(actor, f"{money(v)}（{n} 位）", f"{money(v)} ({n} customers)"))
            for name, v, n in rows
        ],
    )


def digest_blocks(s: Session, actor: Actor) -> list[Block]:
    subs = s.scalars(
        select(DigestSubscription)
        .where(DigestSubscription.staff_id == actor.staff_id)
        .order_by(DigestSubscription.id)
    ).all()
    out: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _say(actor, "订阅", "Digests")}}
    ]
    for sub in subs:
        when = sub.time_of_day + (
            "" if sub.frequency == "daily" else f" ({_say(actor, '每周', 'weekly')} {sub.weekday})"
        )
        what = ", ".join(sub.campaigns) or _say(actor, "进行中的活动", "running campaigns")
        paused = _say(actor, " · 已暂停", " · paused") if sub.paused else ""
        out.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<#{sub.target}> · {when} · {what}{paused}"},
            }
        )
        out.append(
            {
                "type": "actions",
                "elements": [
                    _button(_say(actor, "立即发送", "Send now"), f"send_{sub.id}", str(sub.id)),
                    _button(
                        _say(actor, "恢复", "Resume")
                        if sub.paused
                        else _say(actor, "暂停", "Pause"),
                        f"pause_{sub.id}",
                        str(sub.id),
                    ),
                    _button(
                        _say(actor, "删除", "Delete"), f"delete_{sub.id}", str(sub.id), "danger"
                    ),
                ],
            }
        )
    out.append(
        {
            "type": "actions",
            "elements": [_button(_say(actor, "新建订阅", "New digest"), "new", "new", "primary")],
        }
    )
    return out


def _button(text: str, suffix: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": DIGEST_PREFIX + suffix,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def view(
    db: Database, settings: Settings, user_id: str, now: datetime, tasks: Reply | None
) -> dict[str, Any]:
    """The Home tab for ``user_id`` (``tasks``: the guide's ``tasks`` reply)."""
    with db.session() as s:
        actor = actors.resolve(s, IncomingMessage(Channel.SLACK, user_id, ""))
        if actor is None:
            out: list[Block] = blocks(Reply(text="Not linked to staff yet.", kind="refusal"))
        elif actor.is_manager:
            out = []
            for reply in campaign_replies(s, settings, actor, now) or [
                Reply(text=_say(actor, "今天没有进行中的活动。", "No campaign is running today."))
            ]:
                out += [*blocks(reply), {"type": "divider"}]
            out += [*blocks(team_reply(s, settings, actor, now)), {"type": "divider"}]
            out += [*blocks(at_risk_reply(s, settings, actor, now)), {"type": "divider"}]
            out += digest_blocks(s, actor)
        else:
            out = blocks(tasks or Reply(text=_say(actor, "今天没有任务。", "No tasks today.")))
    return {"type": "home", "blocks": _unique_ids(out[:MAX_VIEW_BLOCKS])}


def _unique_ids(out: list[Block]) -> list[Block]:
    # Each campaign reply numbers its item 1; a view's action_ids must be unique.
    seen: set[str] = set()
    for block in out:
        for element in block.get("elements", []):
            if "action_id" not in element:
                continue
            base, n = element["action_id"], 1
            while element["action_id"] in seen:
                n += 1
                element["action_id"] = f"{base}_{n}"
            seen.add(element["action_id"])
    return out
