"""Resolving codes (store, staff, campaign) to ids, in one query per kind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Campaign, Staff, Store


def ids_by_code(session: Session, model: Any, codes: Iterable[str | None]) -> dict[str, int]:
    wanted = sorted({c for c in codes if c})
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 900):
        rows = session.execute(
            select(model.code, model.id).where(model.code.in_(wanted[start : start + 900]))
        )
        found.update({code: id_ for code, id_ in rows})
    return found


def stores(session: Session, codes: Iterable[str | None]) -> dict[str, int]:
    return ids_by_code(session, Store, codes)


def staff(session: Session, codes: Iterable[str | None]) -> dict[str, int]:
    return ids_by_code(session, Staff, codes)


def campaigns(session: Session, codes: Iterable[str | None]) -> dict[str, int]:
    return ids_by_code(session, Campaign, codes)


MISSING = {
    "store": "unknown store {!r}; add it first (POST /api/v1/stores or scrm import stores)",
    "guide": "unknown staff code {!r}; add the guide first (scrm staff add)",
    "campaign": "unknown campaign {!r}; add it first (POST /api/v1/campaigns)",
}
