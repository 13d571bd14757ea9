"""Text that is stored and echoed back: no control or bidi-override characters.

A BEL (U+0007) rings terminals that show a CSV or log; an RLO (U+202E) makes ``gpj.exe``
read as ``exe.jpg`` and a name read backwards in chat. Names, tags and notes lose them on the
way in (intake rows, chat text, WeCom and Slack names), so nothing downstream sees them.
"""

from __future__ import annotations

import re

# C0 and C1 controls but tab and newline; zero-width and bidi embedding/override/isolate
# marks; the BOM. (Zero-width joiners inside emoji sequences are kept: U+200D.)
_CONTROLS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def strip_controls(text: str, *, keep_newlines: bool = True) -> str:
    out = _CONTROLS.sub("", text)
    return out if keep_newlines else re.sub(r"[\t\n]+", " ", out)


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None
