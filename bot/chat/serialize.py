"""A Reply as JSON and back, so a push can wait in the outbox and be rendered by the channel
that sends it."""

from __future__ import annotations

import base64
from typing import Any

from bot.chat.types import Action, Chart, Field, Item, Reply, Table


def to_dict(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {
        "text": reply.text,
        "title": reply.title,
        "footer": reply.footer,
        "kind": reply.kind,
        "fields": [{"label": f.label, "value": f.value, "change": f.change} for f in reply.fields],
        "items": [
            {
                "number": i.number,
                "title": i.title,
                "subtitle": i.subtitle,
                "actions": [_action(a) for a in i.actions],
            }
            for i in reply.items
        ],
        "table": None
        if reply.table is None
        else {"headers": reply.table.headers, "rows": reply.table.rows},
        "chart": None,
        "actions": [_action(a) for a in reply.actions],
        "shareable": reply.shareable,
    }
    if reply.chart is not None:
        out["chart"] = {
            "png": base64.b64encode(reply.chart.png).decode(),
            "alt": reply.chart.alt,
            "title": reply.chart.title,
        }
    return out


def _action(a: Action) -> dict[str, str]:
    return {"label": a.label, "command": a.command, "style": a.style}


def _from_action(a: dict[str, Any]) -> Action:
    return Action(a["label"], a["command"], a.get("style", "default"))


def from_dict(data: dict[str, Any]) -> Reply:
    chart = data.get("chart")
    table = data.get("table")
    return Reply(
        text=data.get("text", ""),
        title=data.get("title", ""),
        footer=data.get("footer", ""),
        kind=data.get("kind", "ok"),
        fields=[Field(f["label"], f["value"], f.get("change")) for f in data.get("fields", [])],
        items=[
            Item(
                i["number"],
                i["title"],
                i.get("subtitle", ""),
                [_from_action(a) for a in i.get("actions", [])],
            )
            for i in data.get("items", [])
        ],
        table=None if not table else Table(table["headers"], table["rows"]),
        chart=None
        if not chart
        else Chart(base64.b64decode(chart["png"]), chart["alt"], chart.get("title", "")),
        actions=[_from_action(a) for a in data.get("actions", [])],
        shareable=bool(data.get("shareable", False)),
    )
