"""Search keys for names: full pinyin and initials, so a guide can type ``zs`` for 张三."""

from __future__ import annotations

from pypinyin import Style, lazy_pinyin

from bot.services.clean import strip_controls


def name_fields(name: str | None) -> dict[str, str | None]:
    if name:
        name = strip_controls(name, keep_newlines=False).strip() or None
    if not name:
        return {"name": name, "name_pinyin": None, "name_initials": None}
    syllables = lazy_pinyin(name, errors="default")
    initials = lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")
    return {
        "name": name,
        "name_pinyin": "".join(syllables).lower()[:300],
        "name_initials": "".join(initials).lower()[:100],
    }
