"""A command typed stuck to its argument: ``查赵琪洁``, ``完成2``, ``done2``.

Phone keyboards make the space after a Chinese command easy to forget. When the first word
is not a command but starts with one, the longest such command is split off, and only when
what follows is an argument that command accepts; otherwise the word is left alone, so a
word that merely begins like a command is still reported as unknown. An English command
is split only before a character that cannot continue an English word (``done2``, ``find张三``),
so ``helpme`` is not ``help me``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_DIGITS_THEN_TEXT = re.compile(r"^(\d+)(\D.*)$", re.S)


def _ascii_word(name: str) -> bool:
    return name.isascii()


def unstick(
    tokens: list[str], names: Iterable[str], accepts: Callable[[str, list[str]], bool]
) -> list[str]:
    """``tokens`` with a stuck command split off its argument, or unchanged.

    ``names`` are the command words; ``accepts(name, args)`` says whether the command parses
    those arguments. Characters are never added or lost: the tokens join to the same text.
    """
    if not tokens or not tokens[0]:
        return tokens
    head, rest = tokens[0], tokens[1:]
    known = set(names)
    if head in known or head.lower() in known:
        return tokens
    candidates = sorted(
        (n for n in known if n and _prefix(head, n) and len(head) > len(n)),
        key=len,
        reverse=True,
    )
    for name in candidates:
        tail = head[len(name) :]
        if _ascii_word(name) and ((tail[0].isascii() and tail[0].isalpha()) or tail[0] == "_"):
            continue  # "helpme" is a word, not "help me"
        forms = [[name, tail, *rest]]
        stuck_number = _DIGITS_THEN_TEXT.match(tail)
        if stuck_number:  # 完成2约了周六 -> 完成 2 约了周六
            forms.append([name, stuck_number.group(1), stuck_number.group(2), *rest])
        for form in forms:
            if accepts(name, form[1:]):
                return [head[: len(name)], *form[1:]]
    return tokens


def _prefix(head: str, name: str) -> bool:
    if _ascii_word(name):
        return head[: len(name)].lower() == name
    return head.startswith(name)
