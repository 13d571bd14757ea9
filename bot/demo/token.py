"""The demo store's REST API token: made once, kept in the store, printed by ``scrm demo``.

A fresh demo must answer the README's ``curl`` examples without anyone inventing a token;
keeping it in the store (the ``api_tokens`` key/value table) means every ``scrm demo`` run
on the same store prints and accepts the same one.
"""

from __future__ import annotations

import secrets

from storage.base import utcnow
from storage.db import Database
from storage.models import ApiToken
from storage.upsert import insert_ignore

KEY = "scrm:demo:rest"


def demo_token(db: Database) -> str:
    """The store's demo token, created on first use."""
    with db.uow() as uow:
        row = uow.session.get(ApiToken, KEY)
        if row is None or not row.value:
            insert_ignore(
                uow.session,
                ApiToken,
                [
                    {
                        "key": KEY,
                        "value": "demo-" + secrets.token_urlsafe(18),
                        "updated_at": utcnow(),
                    }
                ],
                ["key"],
            )
            uow.commit()
    with db.session() as s:
        value = s.get(ApiToken, KEY)
        assert value is not None and value.value
        return value.value


def accept(existing: str | None, token: str) -> str:
    """SCRM_API_TOKENS with the demo token added (a bare token: intake and read)."""
    tokens = [t.strip() for t in (existing or "").split(",") if t.strip()]
    if not any(t.split(":")[0] == token for t in tokens):
        tokens.append(token)
    return ",".join(tokens)
