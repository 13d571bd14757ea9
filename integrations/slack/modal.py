"""The digest subscription modal: what to report, for which store and period, how often,
when, and into which channel. ``parse`` turns a view submission into a subscription or into
per-field errors (Slack shows them under the inputs: ``response_action: errors``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kpi import definitions
from bot.kpi.campaigns import CampaignIndex
from storage.models import DigestSubscription, Store

CALLBACK = "scrm_digest"
WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
PERIODS = (("", "整个活动", "Whole campaign"), ("yesterday", "昨天", "Yesterday"),
           ("7d", "近7天", "Last 7 days"), ("mtd", "本月", "Month to date"))  # fmt: skip
MAX_OPTIONS = 100  # a static select offers at most 100 options


def _t(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75], "emoji": True}


def _opt(value: str, text: str) -> dict[str, Any]:
    return {"text": _t(text), "value": value or "-"}


def _input(block_id: str, label: str, element: dict[str, Any], optional: bool) -> dict[str, Any]:
    element["action_id"] = block_id
    return {
        "type": "input",
        "block_id": block_id,
        "label": _t(label),
        "element": element,
        "optional": optional,
    }


def view(
    s: Session, locale: str, roi_definition: str, channel: str | None = None
) -> dict[str, Any]:
    zh = locale == "zh"
    campaigns = sorted(CampaignIndex.load(s), key=lambda c: (c.starts_at, c.id), reverse=True)
    stores = s.execute(select(Store.code, Store.name).order_by(Store.code)).all()
    metrics = definitions.catalogue(roi_definition)
    channel_el: dict[str, Any] = {
        "type": "conversations_select",
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if channel:
        channel_el["initial_conversation"] = channel
    blocks: list[dict[str, Any]] = []
    if campaigns:
        blocks.append(
            _input(
                "campaigns",
                "活动（不选：进行中的活动）" if zh else "Campaigns (none: the running ones)",
                {
                    "type": "multi_static_select",
                    "options": [
                        _opt(c.code, f"{c.name} ({c.code})") for c in campaigns[:MAX_OPTIONS]
                    ],
                },
                True,
            )
        )
    blocks += [
        _input(
            "metrics",
            "指标（不选：常用指标）" if zh else "Metrics (none: the standard set)",
            {
                "type": "multi_static_select",
                "options": [_opt(k.key, k.label(locale)) for k in metrics],  # type: ignore[arg-type]
            },
            True,
        ),
        _input(
            "store",
            "门店" if zh else "Store",
            {
                "type": "static_select",
                "options": [_opt(code, f"{name} ({code})") for code, name in stores[:MAX_OPTIONS]]
                or [_opt("-", "—")],
            },
            True,
        ),
        _input(
            "period",
            "统计时间" if zh else "Period",
            {
                "type": "static_select",
                "options": [_opt(v, z if zh else e) for v, z, e in PERIODS],
                "initial_option": _opt("", PERIODS[0][1] if zh else PERIODS[0][2]),
            },
            False,
        ),
        _input(
            "frequency",
            "频率" if zh else "Frequency",
            {
                "type": "radio_buttons",
                "options": [
                    _opt("daily", "每天" if zh else "Daily"),
                    _opt("weekly", "每周" if zh else "Weekly"),
                ],
                "initial_option": _opt("daily", "每天" if zh else "Daily"),
            },
            False,
        ),
        _input(
            "weekday",
            "每周哪天（每周时）" if zh else "Weekday (weekly only)",
            {
                "type": "static_select",
                "options": [
                    _opt(str(i), (WEEKDAYS_ZH if zh else WEEKDAYS_EN)[i]) for i in range(7)
                ],
            },
            True,
        ),
        _input(
            "time", "时间" if zh else "Time", {"type": "timepicker", "initial_time": "09:00"}, False
        ),
        _input("channel", "发到频道" if zh else "Channel", channel_el, False),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK,
        "title": _t("KPI 订阅" if zh else "KPI digest"),
        "submit": _t("保存" if zh else "Save"),
        "close": _t("取消" if zh else "Cancel"),
        "blocks": blocks,
    }


@dataclass
class Submission:
    campaigns: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    frequency: str = "daily"
    weekday: int | None = None
    time_of_day: str = "09:00"
    channel: str = ""


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    entry: dict[str, Any] = values.get(block, {}).get(block, {})
    return entry


def parse(values: dict[str, Any], locale: str) -> tuple[Submission, dict[str, str]]:
    """The submission and the errors by block id (empty when it is valid)."""
    zh = locale == "zh"
    sub, errors = Submission(), {}
    sub.campaigns = [o["value"] for o in _value(values, "campaigns").get("selected_options") or []]
    sub.metrics = [o["value"] for o in _value(values, "metrics").get("selected_options") or []]
    for key in ("store", "period"):
        picked = (_value(values, key).get("selected_option") or {}).get("value")
        if picked and picked != "-":
            sub.filters[key] = picked
    sub.frequency = (_value(values, "frequency").get("selected_option") or {}).get("value", "daily")
    weekday = (_value(values, "weekday").get("selected_option") or {}).get("value")
    if sub.frequency == "weekly":
        if weekday is None:
            errors["weekday"] = (
                "每周发送要选一天。" if zh else "Pick a weekday for a weekly digest."
            )
        else:
            sub.weekday = int(weekday)
    time_of_day = _value(values, "time").get("selected_time") or ""
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", time_of_day):
        errors["time"] = (
            "时间写成 HH:MM，如 09:00。" if zh else "Give the time as HH:MM, e.g. 09:00."
        )
    sub.time_of_day = time_of_day
    sub.channel = _value(values, "channel").get("selected_conversation") or ""
    if not sub.channel:
        errors["channel"] = "选一个频道。" if zh else "Pick a channel."
    return sub, errors


def save(s: Session, staff_id: int, sub: Submission, timezone: str) -> DigestSubscription:
    row = DigestSubscription(
        staff_id=staff_id,
        channel="slack",
        target=sub.channel,
        campaigns=sub.campaigns,
        metrics=sub.metrics,
        filters=sub.filters,
        frequency=sub.frequency,
        weekday=sub.weekday,
        time_of_day=sub.time_of_day,
        timezone=timezone,
        paused=False,
    )
    s.add(row)
    s.flush()
    return row
