"""Buttons that re-render a KPI reply in place: period presets, a drill-down by store, the
previous campaign. Each button's value is the ``kpi`` chat command to run instead, so a
click is an ordinary command (the same permissions, the same figures as typing it)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.chat.text import split
from bot.chat.types import Action, Locale, Reply
from bot.commands import kpi as kpi_cmd
from bot.commands.base import Usage
from bot.kpi.campaigns import CampaignIndex
from bot.kpi.service import find_campaign

KPI_WORDS = {"kpi", "活动"}
STORE_HEADERS = {"门店", "Store"}
MAX_STORES = 5
_PERIODS = (
    ("yesterday", "昨天", "Yesterday"),
    ("7d", "近7天", "Last 7 days"),
    ("mtd", "本月", "Month to date"),
    (None, "整个活动", "Whole campaign"),
)


def kpi_args(command: str) -> kpi_cmd.Args | None:
    tokens = split(command)
    if not tokens or tokens[0].lower() not in KPI_WORDS:
        return None
    try:
        parsed: kpi_cmd.Args = kpi_cmd.parse(tokens[1:])
    except Usage:
        return None
    return parsed


def _quote(value: str) -> str:
    return f'"{value}"' if any(ch.isspace() for ch in value) else value


def command_for(args: kpi_cmd.Args) -> str:
    parts = ["kpi", _quote(args.campaign)]
    if args.vs:
        parts += ["vs", _quote(args.vs)]
    for key, value in (("store", args.store), ("guide", args.guide), ("period", args.period)):
        if value:
            parts.append(f"{key}:{_quote(value)}")
    return " ".join(parts)


def _with(args: kpi_cmd.Args, **changes: str | None) -> kpi_cmd.Args:
    values = {
        "campaign": args.campaign,
        "vs": args.vs,
        "store": args.store,
        "guide": args.guide,
        "period": args.period,
    }
    values.update(changes)
    return kpi_cmd.Args(**values)  # type: ignore[arg-type]


def rows(session: Session, command: str, reply: Reply, locale: Locale) -> list[list[Action]]:
    """Rows of buttons for a KPI reply (none for anything else)."""
    args = kpi_args(command)
    if args is None or reply.kind != "ok":
        return []
    zh = locale == "zh"
    periods = [
        Action(
            label_zh if zh else label_en,
            command_for(_with(args, period=period)),
            "primary" if period == args.period else "default",
        )
        for period, label_zh, label_en in _PERIODS
    ]
    out = [periods]
    if args.store:
        out.append(
            [Action("全部门店" if zh else "All stores", command_for(_with(args, store=None)))]
        )
    elif (
        reply.table is not None and reply.table.headers and reply.table.headers[0] in STORE_HEADERS
    ):
        names = [r[0] for r in reply.table.rows if r and r[0] not in ("（无）", "(none)")]
        stores = [Action(name, command_for(_with(args, store=name))) for name in names[:MAX_STORES]]
        if stores:
            out.append(stores)
    index = CampaignIndex.load(session)
    current = find_campaign(index, args.campaign)
    previous = index.get(current.previous_id) if current and current.previous_id else None
    if previous is not None:
        label = f"上一期 {previous.code}" if zh else f"Previous: {previous.code}"
        out.append([Action(label, command_for(_with(args, campaign=previous.code, vs=None)))])
    return out
