"""Render a neutral ``Reply`` as Slack Block Kit blocks.

Pure functions: no I/O, no SDK. Limits from the Block Kit reference (docs.slack.dev,
"Blocks" and "Block elements"):

- a message holds at most 50 blocks;
- ``header``: ``plain_text`` of at most 150 characters;
- ``section``: ``text`` at most 3000 characters; ``fields`` at most 10, each at most 2000;
- ``actions``: at most 25 elements; a ``button``'s text at most 75 characters, its
  ``action_id`` at most 255 and unique in the message, its ``value`` at most 2000;
- ``context``: at most 10 elements, each a text object of at most 3000 characters.

Text in ``mrkdwn`` escapes only ``&``, ``<`` and ``>``, as Slack asks ("Formatting text for
app surfaces"); the chart is not a block: the uploader sends it with ``files_upload_v2``.
"""

from __future__ import annotations

from typing import Any

from bot.chat.types import Action, Field, Item, Reply, Table

Block = dict[str, Any]

MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELDS_PER_SECTION = 10
FIELD_TEXT_MAX = 2000
ACTIONS_MAX = 25
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
ACTION_ID_MAX = 255
CONTEXT_TEXT_MAX = 3000
# chat.postMessage truncates ``text`` at 40,000 characters and suggests keeping it under
# 4,000; as a fallback for notifications a short version is kinder.
FALLBACK_MAX = 3000

_KIND_MARK = {"error": "⚠️ ", "refusal": "⛔ ", "usage": "💡 ", "ok": ""}


def blocks(reply: Reply) -> list[Block]:
    """The blocks for ``reply``, never more than Slack accepts."""
    out: list[Block] = []
    if reply.title.strip():
        out.append(_header(reply.title))
    if reply.text:
        out += _sections(_KIND_MARK[reply.kind] + escape(reply.text))
    for start in range(0, len(reply.fields), FIELDS_PER_SECTION):
        chunk = reply.fields[start : start + FIELDS_PER_SECTION]
        out.append({"type": "section", "fields": [_field(f) for f in chunk]})
    if reply.table is not None:
        out += table_sections(reply.table)
    for item in reply.items:
        out += _item(item)
    if reply.actions:
        out += _buttons(reply.actions, "scrm_item_reply")
    if reply.footer.strip():
        out.append(_context(escape(reply.footer)))
    return _cap(out, reply)


def fallback_text(reply: Reply) -> str:
    """The message ``text``: what notifications and screen readers show."""
    return _clip(escape(reply.plain().strip()), FALLBACK_MAX) or "…"


def chart_alt(reply: Reply) -> str | None:
    """The alt text (and title) for the chart the uploader will attach, if any."""
    if reply.chart is None:
        return None
    chart = reply.chart
    return f"{chart.title}: {chart.alt}" if chart.title and chart.alt else chart.title or chart.alt


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def change_text(change: str) -> str:
    """A KPI change with a direction arrow: '+12.5%' -> '▲ +12.5%'."""
    s = change.strip()
    if s.startswith(("-", "−")):
        return f"▼ {s}"
    if s.startswith("+") and s.strip("+0.% "):
        return f"▲ {s}"
    return s


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 4))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # never leave half an escape such as "&am"
    return cut + "…"


def _header(title: str) -> Block:
    # Header text is a single line of plain_text; newlines would be shown as spaces anyway.
    text = _clip(" ".join(title.split()), HEADER_MAX) or "…"
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _sections(mrkdwn: str) -> list[Block]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _split(mrkdwn, SECTION_TEXT_MAX)
    ]


def _split(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, broken between lines where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            k = limit
            amp = line.rfind("&", limit - 4, limit)
            if amp > 0 and ";" not in line[amp:limit]:
                k = amp  # keep "&amp;" and friends whole
            pieces.append(line[:k])
            line = line[k:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def _field(f: Field) -> Block:
    label = " ".join(f.label.split())
    head = f"*{escape(label)}*" if label else ""
    if f.change and f.change.strip():
        head += f"  {escape(change_text(f.change))}"
    text = f"{head}\n{escape(f.value)}".strip() or "—"
    return {"type": "mrkdwn", "text": _clip(text, FIELD_TEXT_MAX)}


def table_sections(table: Table) -> list[Block]:
    """A table as monospace text, split into sections under the 3000-character limit.

    Every piece repeats the header row, so a long table still reads as a table.
    """
    lines = [_code_safe(line) for line in Reply(table=table).plain().split("\n")]
    header, rows = lines[0], lines[1:]
    fence = 8  # "```\n" + "\n```"
    room = SECTION_TEXT_MAX - fence
    header = _clip(header, room // 2)
    blocks_out: list[Block] = []
    body: list[str] = []
    size = len(header)

    def flush() -> None:
        text = "\n".join([header, *body])
        blocks_out.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{text}\n```"}}
        )

    for row in rows:
        row = _clip(row, room - len(header) - 1)
        if body and size + 1 + len(row) > room:
            flush()
            body, size = [], len(header)
        body.append(row)
        size += 1 + len(row)
    if body or not blocks_out:
        flush()
    return blocks_out


def _code_safe(line: str) -> str:
    # A cell holding ``` would close the code block early.
    return escape(line).replace("```", "`\u200b``")


def _item(item: Item) -> list[Block]:
    text = f"*{item.number}.* {escape(item.title)}"
    if item.subtitle:
        text += f"\n{escape(item.subtitle)}"
    out: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_TEXT_MAX)}}
    ]
    return out + _buttons(item.actions, f"scrm_item_{item.number}")


def _buttons(actions: list[Action], prefix: str) -> list[Block]:
    buttons: list[Block] = []
    for i, action in enumerate(actions[:ACTIONS_MAX]):
        if len(action.command) > BUTTON_VALUE_MAX:
            continue  # a cut command would run something else; the item stays listed
        button: Block = {
            "type": "button",
            "text": {
                "type": "plain_text",
                "text": _clip(_label(action), BUTTON_TEXT_MAX),
                "emoji": True,
            },
            "action_id": f"{prefix}_{i}"[:ACTION_ID_MAX],
            "value": action.command,
        }
        if action.style in ("primary", "danger"):
            button["style"] = action.style
        buttons.append(button)
    return [{"type": "actions", "elements": buttons}] if buttons else []


def _label(action: Action) -> str:
    return " ".join(action.label.split()) or " ".join(action.command.split()) or "…"


def _context(mrkdwn: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _clip(mrkdwn, CONTEXT_TEXT_MAX)}],
    }


def _cap(out: list[Block], reply: Reply) -> list[Block]:
    out = _unique_action_ids(out)
    if len(out) <= MAX_BLOCKS:
        return out
    kept = out[: MAX_BLOCKS - 1]
    if kept[-1]["type"] == "section" and out[MAX_BLOCKS - 1]["type"] == "actions":
        kept.pop()  # an item's text without its buttons would be a dead end
    hidden = sum(1 for b in out[len(kept) :] if b["type"] != "actions")
    zh = any(ord(ch) > 0x2E7F for ch in reply.title + reply.text + reply.footer)
    more = f"… 还有 {hidden} 项未显示" if zh else f"… {hidden} more not shown"
    return [*kept, _context(more)]


def _unique_action_ids(out: list[Block]) -> list[Block]:
    # Two items may share a number (the core does not promise otherwise); Slack rejects a
    # message whose action_ids repeat, so later duplicates get a suffix.
    seen: set[str] = set()
    for block in out:
        for element in block.get("elements", []):
            if element.get("type") != "button":
                continue
            base = element["action_id"]
            action_id, n = base, 1
            while action_id in seen:
                n += 1
                action_id = f"{base}_{n}"
            element["action_id"] = action_id
            seen.add(action_id)
    return out
