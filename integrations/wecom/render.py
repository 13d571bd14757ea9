"""Render a neutral ``Reply`` as WeCom application-message payloads (``message/send``).

Pure functions: no I/O, no SDK. The payloads leave out ``touser`` and ``agentid``, which the
sender adds. Limits come from the WeCom server API docs, "发送应用消息"
(developer.work.weixin.qq.com/document/path/90236) and "模板卡片类型" (path/101032):

- ``text.content`` and ``markdown.content``: at most 2048 bytes of UTF-8; WeCom truncates
  longer text silently, so we split on line boundaries ourselves.
- ``template_card`` of ``card_type`` ``button_interaction``: ``task_id`` is required, unique
  per application, at most 128 bytes of ``[A-Za-z0-9_-@]``; ``button_list`` holds at most 6
  buttons, each ``key`` at most 1024 bytes, unique in the card, and comes back as
  ``EventKey`` in the ``template_card_event`` callback; ``main_title.title`` should stay under
  36 characters, ``horizontal_content_list`` under 6 rows with a 5-character ``keyname`` and
  a 30-character ``value``, button text under 10 characters.
- WeCom markdown is a small dialect: ``#`` headings, ``**bold**``, ``[link](url)``, inline
  code, ``>`` quotes and ``<font color="info|comment|warning">``. User text (names, notes,
  tags) must not switch those on, so ``neutralise`` breaks each trigger invisibly.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from bot.chat.types import Action, Field, Item, Reply, Table

MARKDOWN_MAX_BYTES = 2048
TEXT_MAX_BYTES = 2048
CARD_MAX_BUTTONS = 6
CARD_MAX_ROWS = 6
KEY_MAX_BYTES = 1024
TASK_ID_MAX_BYTES = 128
TITLE_MAX_CHARS = 36
ROW_VALUE_MAX_CHARS = 30
ROW_KEY_MAX_CHARS = 5
BUTTON_TEXT_MAX_CHARS = 10
# WeCom allows 30 application messages per member per minute: a reply is one card at most.
# Every item is still listed in the markdown, where its number can be typed; long lists are
# paged by the command (``任务 2``), and the page's "next" button rides on the same card.
MAX_CARDS = 1

Payload = dict[str, Any]

ZWSP = "\u200b"
# Substitutions that keep the text readable but stop WeCom's markdown from seeing syntax.
# A zero-width space after '<', '&' and ']' breaks <font> tags, entities and [..](..) links.
# '*' and '`' have no invisible breaker (a '*' next to a zero-width space still pairs up as
# emphasis, and masked phones like 138****5678 would lose their stars), so they become
# look-alikes: U+2217 ASTERISK OPERATOR and U+02CB MODIFIER LETTER GRAVE ACCENT.
_INLINE = {"*": "∗", "`": "ˋ", "<": "<" + ZWSP, "&": "&" + ZWSP, "]": "]" + ZWSP}
_INLINE_RE = re.compile("[" + re.escape("".join(_INLINE)) + "]")
# Only at the start of a line: a heading, a quote, a list, a rule or a setext underline.
_LINE_START = ("#", ">", "-", "+", "=", "_")
_UNDO = {ZWSP: "", "∗": "*", "ˋ": "`"}
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_TASK_ID_BAD = re.compile(r"[^A-Za-z0-9_\-@]")
_KEY_PREFIX = "scrm1"
_STYLE = {"primary": 1, "default": 2, "danger": 3}  # WeCom styles are 1-4; 1 is the default


@dataclass(frozen=True)
class OutgoingImage:
    """A chart the sender must upload (``media/upload``, type image) before sending."""

    png: bytes
    alt: str
    title: str = ""

    def payload(self, media_id: str) -> Payload:
        return {"msgtype": "image", "image": {"media_id": media_id}}


Outgoing = Payload | OutgoingImage


def render(
    reply: Reply,
    *,
    fmt: Literal["markdown", "text"] = "markdown",
    task_id: str | None = None,
) -> list[Outgoing]:
    """Everything to send for ``reply``, in order: text chunks, the chart, button cards.

    ``task_id`` seeds the cards' task ids; WeCom refuses a task id it has seen before, so a
    sender should pass something unique per push (the outbox key). Without one a random id
    is used.
    """
    if fmt == "text":
        chunks = split_lines(clean(reply.plain()).split("\n"), TEXT_MAX_BYTES)
        out: list[Outgoing] = [{"msgtype": "text", "text": {"content": c}} for c in chunks]
    else:
        out = [{"msgtype": "markdown", "markdown": {"content": c}} for c in markdown_chunks(reply)]
    if reply.chart is not None:
        out.append(OutgoingImage(reply.chart.png, reply.chart.alt, reply.chart.title))
    out.extend(template_cards(reply, task_id or f"scrm-{uuid.uuid4().hex}"))
    return out


# --- text hygiene -------------------------------------------------------------------------


def clean(text: str) -> str:
    """Unify line ends and drop control characters (other than newline and tab) and lone
    surrogates, which WeCom cannot display and UTF-8 cannot encode."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def neutralise(line: str, *, line_start: bool = True) -> str:
    """One line of user text, safe to embed in WeCom markdown (``line_start``: the text may
    begin a line, where '#', '>' and friends mean something)."""
    out = _INLINE_RE.sub(lambda m: _INLINE[m.group()], line)
    return ZWSP + out if line_start and out.lstrip().startswith(_LINE_START) else out


def unneutralise(text: str) -> str:
    """The inverse of ``neutralise`` (for tests and previews)."""
    return "".join(_UNDO.get(ch, ch) for ch in text)


def _n(text: str) -> list[str]:
    return [neutralise(line) for line in clean(text).split("\n")]


def _has_cjk(text: str) -> bool:
    return any(ord(ch) > 0x2E7F for ch in text)


def _clip(text: str, chars: int) -> str:
    text = " ".join(clean(text).split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


# --- markdown -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    markup: str
    plain: str  # the neutralised text without decoration, used when the line is too long


def _decorate(line: str, before: str, after: str) -> str:
    # Markers hug the text: "** x**" is not bold in markdown, it shows the asterisks.
    core = line.strip()
    if not core:
        return line
    lead = line[: len(line) - len(line.lstrip())]
    trail = line[len(line.rstrip()) :]
    return f"{lead}{before}{core}{after}{trail}"


def _wrap(lines: list[str], before: str, after: str) -> list[_Line]:
    return [_Line(_decorate(line, before, after), line) for line in lines]


def _field_lines(f: Field) -> list[_Line]:
    label = " ".join(_n(f.label))
    values = _n(f.value)
    sep = "：" if _has_cjk(f.label) else ": "
    first = values[0] if values else ""
    change = ""
    if f.change:
        arrow, color = _trend(f.change)
        text = neutralise(" ".join(clean(f.change).split("\n")), line_start=False)
        change = f' <font color="{color}">{arrow}{text}</font>'
    head = _Line(
        f"{_decorate(label, '**', '**')}{sep}{first}{change}",
        f"{label}{sep}{first} {' '.join(_n(f.change or ''))}",
    )
    return [head, *(_Line(v, v) for v in values[1:])]


def _trend(change: str) -> tuple[str, str]:
    s = change.strip()
    if s.startswith("+") and s.strip("+0.% ") != "":
        return "▲ ", "info"
    if s.startswith(("-", "−")):
        return "▼ ", "warning"
    return "", "comment"


def _table_lines(table: Table) -> list[_Line]:
    # WeCom markdown has no tables and no monospace, and guides read on phones: one line per
    # row, the first cell in bold, the others labelled with their column header.
    headers = [" ".join(_n(h)) for h in table.headers]
    out: list[_Line] = []
    for row in table.rows:
        cells = [" ".join(_n(c)) for c in row]
        if not cells:
            continue
        rest = [
            f"{headers[i]} {c}" if len(headers) > 2 and i < len(headers) else c
            for i, c in enumerate(cells[1:], start=1)
        ]
        first = _decorate(cells[0], "**", "**")
        out.append(_Line(" · ".join([first, *rest]), " · ".join(cells)))
    head = " · ".join(headers)
    return [_Line(_decorate(head, '<font color="comment">', "</font>"), head), *out]


def _item_lines(item: Item) -> list[_Line]:
    title = _n(item.title)
    out = [_Line(f"{item.number}. {_decorate(title[0], '**', '**')}", f"{item.number}. {title[0]}")]
    out += [_Line(t, t) for t in title[1:]]
    if item.subtitle:
        out += _wrap(_n(item.subtitle), '<font color="comment">', "</font>")
    return out


def _markdown_lines(reply: Reply) -> list[_Line]:
    sections: list[list[_Line]] = []
    if reply.title:
        sections.append(_wrap(_n(reply.title), "**", "**"))
    if reply.text:
        if reply.kind in ("error", "refusal"):
            sections.append(_wrap(_n(reply.text), '<font color="warning">', "</font>"))
        else:
            sections.append([_Line(t, t) for t in _n(reply.text)])
    if reply.fields:
        sections.append([line for f in reply.fields for line in _field_lines(f)])
    if reply.table is not None:
        sections.append(_table_lines(reply.table))
    if reply.items:
        sections.append([line for item in reply.items for line in _item_lines(item)])
    if reply.chart is not None:
        sections.append(_wrap(_n(f"📈 {reply.chart.alt}"), '<font color="comment">', "</font>"))
    if reply.footer:
        sections.append(_wrap(_n(reply.footer), '<font color="comment">', "</font>"))
    lines: list[_Line] = []
    for section in sections:
        if lines:
            lines.append(_Line("", ""))
        lines.extend(section)
    return lines


def markdown_chunks(reply: Reply, limit: int = MARKDOWN_MAX_BYTES) -> list[str]:
    """The markdown for ``reply``, split into messages of at most ``limit`` bytes."""
    lines: list[str] = []
    for line in _markdown_lines(reply):
        if _size(line.markup) <= limit:
            lines.append(line.markup)
        else:
            # Too long for one message: send the undecorated text in pieces, so no piece
            # carries half a **bold** or <font> tag. A piece that starts with '#' or '>'
            # would become a heading or quote, hence the re-neutralised start.
            lines.extend(_protect_start(p) for p in cut(line.plain, limit - len(ZWSP.encode())))
    return split_lines(lines, limit)


def _protect_start(piece: str) -> str:
    return ZWSP + piece if piece.lstrip().startswith(_LINE_START) else piece


# --- splitting ----------------------------------------------------------------------------


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def cut(text: str, limit: int) -> list[str]:
    """Split one line into pieces of at most ``limit`` bytes, between characters."""
    data = text.encode("utf-8")
    pieces: list[str] = []
    while data:
        end = min(limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1  # a UTF-8 continuation byte: step back to the start of the character
        if end == 0:
            raise ValueError(f"a limit of {limit} bytes cannot hold one character")
        pieces.append(data[:end].decode("utf-8"))
        data = data[end:]
    return pieces


def split_lines(lines: list[str], limit: int) -> list[str]:
    """Pack lines into messages of at most ``limit`` bytes, breaking only between lines
    (and inside a line only when that line alone is over the limit)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0

    def flush() -> None:
        nonlocal current, size
        while current and not current[-1].strip():
            current.pop()
        while current and not current[0].strip():
            current.pop(0)
        if current:
            chunks.append("\n".join(current))
        current, size = [], 0

    for line in lines:
        n = _size(line)
        if n > limit:
            flush()
            chunks.extend(cut(line, limit))
            continue
        extra = n + (1 if current else 0)
        if size + extra > limit:
            flush()
            extra = n
        current.append(line)
        size += extra
    flush()
    return [c for c in chunks if c.strip()]


# --- template cards and button keys --------------------------------------------------------


def encode_button_key(command: str, index: int) -> str:
    """A button ``key`` that carries ``command`` back in the click callback's EventKey.

    ``scrm1.<index>.<base64url(command)>``: ASCII only, so it survives the XML callback
    untouched; the index keeps keys unique in a card even when two buttons run the same
    command (WeCom rejects duplicate keys).
    """
    # surrogatepass: a lone surrogate (JSON can carry one) must round-trip, not raise.
    raw = command.encode("utf-8", "surrogatepass")
    data = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
    return f"{_KEY_PREFIX}.{index}.{data}"


def decode_button_key(key: str) -> str | None:
    """The command a button key carries, or None when the key is not one of ours."""
    parts = key.split(".")
    if len(parts) != 3 or parts[0] != _KEY_PREFIX or not parts[1].isdigit():
        return None
    data = parts[2]
    if not re.fullmatch(r"[A-Za-z0-9_\-]*", data):
        return None
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        return raw.decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        return None


def make_task_id(seed: str, suffix: str = "") -> str:
    """A valid task_id from any seed: allowed characters only, at most 128 bytes."""
    tail = _TASK_ID_BAD.sub("_", suffix)
    head = _TASK_ID_BAD.sub("_", seed) or "scrm"
    return head[: TASK_ID_MAX_BYTES - len(tail)] + tail


def _fits(action: Action) -> bool:
    # The index is at most two digits (6 buttons); a command too long for the key is left
    # to the markdown list, where the guide can type it.
    return _size(encode_button_key(action.command, 99)) <= KEY_MAX_BYTES


def _button_text(item: Item, action: Action, several: bool) -> str:
    label = _clip(action.label, 99) or _clip(action.command, 99) or "…"
    if several and label != str(item.number):
        label = f"{item.number} {label}"
    return _clip(label, BUTTON_TEXT_MAX_CHARS)


def template_cards(reply: Reply, task_id: str) -> list[Payload]:
    """One ``button_interaction`` card for the reply's buttons, at most 6 of them.

    The reply's own buttons (a next page) come last and always fit. When the items' buttons
    do not all fit, each item keeps its first (main) button, in order, as many as fit.
    """
    extra = [a for a in reply.actions if _fits(a)][:CARD_MAX_BUTTONS]
    room = CARD_MAX_BUTTONS - len(extra)
    entries = [(item, [a for a in item.actions if _fits(a)]) for item in reply.items]
    entries = [(item, actions) for item, actions in entries if actions]
    if sum(len(actions) for _, actions in entries) > room:
        entries = [(item, actions[:1]) for item, actions in entries]
    group: list[tuple[Item, list[Action]]] = []
    count = 0
    for item, actions in entries:
        if count + len(actions) > room:
            break
        group.append((item, actions))
        count += len(actions)
    if not group and not extra:
        return []
    several = len(group) > 1
    buttons: list[Payload] = []

    def add(text: str, action: Action) -> None:
        buttons.append(
            {
                "type": 0,  # 0: a callback click, not a URL
                "text": text,
                "style": _STYLE.get(action.style, 1),
                "key": encode_button_key(action.command, len(buttons)),
            }
        )

    for item, actions in group:
        for action in actions:
            add(_button_text(item, action, several), action)
    for action in extra:
        label = _clip(action.label, 99) or _clip(action.command, 99) or "…"
        add(_clip(label, BUTTON_TEXT_MAX_CHARS), action)
    title_source = reply.title or reply.text.strip().split("\n")[0] or "请选择 / Choose"
    card: dict[str, Any] = {
        "card_type": "button_interaction",
        "task_id": make_task_id(task_id),
        "main_title": {"title": _clip(title_source, TITLE_MAX_CHARS)},
        "button_list": buttons,
    }
    if group:
        card["horizontal_content_list"] = [
            {
                "keyname": _clip(str(item.number), ROW_KEY_MAX_CHARS),
                "value": _clip(item.title, ROW_VALUE_MAX_CHARS),
            }
            for item, _ in group[:CARD_MAX_ROWS]
        ]
    return [{"msgtype": "template_card", "template_card": card}]
