"""Tokenizing chat text: quotes (ASCII and Chinese), full-width characters, stray spaces."""

from __future__ import annotations

import unicodedata

from bot.services.clean import strip_controls

# Opening quote -> closing quote. Guides type Chinese quotes on phone keyboards.
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "《": "》"}
MAX_TEXT = 2000


def normalize(text: str) -> str:
    """Full-width letters, digits and spaces become half-width (ＶＩＰ -> VIP, １２ -> 12).

    NFKC also folds the full-width colon, so ``偏好：红色`` reads like ``偏好:红色``.
    Quotes are kept as typed: they are handled by ``split``.
    """
    out = []
    for ch in strip_controls(text):
        if ch in _QUOTES or ch in _QUOTES.values():
            out.append(ch)
        else:
            out.append(unicodedata.normalize("NFKC", ch))
    return "".join(out)


def split(text: str) -> list[str]:
    """Split on whitespace, keeping quoted stretches together. An unclosed quote runs to
    the end of the line rather than failing: chat users forget to close them."""
    text = normalize(text)[:MAX_TEXT]
    tokens: list[str] = []
    buf: list[str] = []
    closing: str | None = None
    quoted = False
    for ch in text:
        if closing is not None:
            if ch == closing:
                closing = None
            else:
                buf.append(ch)
        elif ch in _QUOTES:
            closing, quoted = _QUOTES[ch], True
        elif ch.isspace():
            if buf or quoted:
                tokens.append("".join(buf))
            buf, quoted = [], False
        else:
            buf.append(ch)
    if buf or quoted:
        tokens.append("".join(buf))
    return [t for t in tokens if t.strip() or t == ""] if tokens else []
