"""Whether each morning list arrived whole: every message of the push (the text chunks and
each button card) delivered exactly once, compared part by part with what the outbox row
renders to. The header alone (what the first check counts) says nothing about the cards."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from sqlalchemy import select

from storage.db import Database
from storage.models import OutboxMessage
from tests.fakes import wecom as F


def _fingerprint(message: dict[str, Any]) -> str:
    kind = message["msgtype"]
    body = message.get(kind, {})
    if kind == "template_card":
        return f"card:{body.get('task_id')}"
    return f"{kind}:" + json.dumps(body, sort_keys=True, ensure_ascii=False)


def list_parts(db: Database, wecom: F.FakeWecom, key_prefix: str) -> dict[str, Any]:
    """Per push whose key starts with ``key_prefix``: whole, partial, missing or doubled."""
    from bot.chat.serialize import from_dict
    from integrations.wecom.events import REPLY_FORMAT
    from integrations.wecom.render import OutgoingImage, make_task_id, render

    with db.session() as s:
        rows = s.execute(
            select(
                OutboxMessage.idempotency_key,
                OutboxMessage.target,
                OutboxMessage.payload,
                OutboxMessage.status,
                OutboxMessage.parts_sent,
                OutboxMessage.last_error,
            ).where(OutboxMessage.idempotency_key.like(f"{key_prefix}%"))
        ).all()
    verdicts: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    parts_total = 0
    for key, target, payload, status, parts_sent, last_error in rows:
        outs = render(
            from_dict(payload["reply"]),
            fmt=REPLY_FORMAT,  # type: ignore[arg-type]
            task_id=make_task_id(f"wecom-out:{key}"),
        )
        got = Counter(_fingerprint(m) for m in wecom.sent_to(target))
        counts = [got[_fingerprint(o)] if not isinstance(o, OutgoingImage) else 1 for o in outs]
        parts_total += len(outs)
        if all(n == 1 for n in counts):
            verdict = "whole"
        elif any(n > 1 for n in counts):
            verdict = "doubled"
        elif all(n == 0 for n in counts):
            verdict = "missing"
        else:
            verdict = "partial"
        verdicts[verdict] += 1
        if verdict != "whole":
            arrived = sum(1 for n in counts if n)
            examples.setdefault(verdict, []).append(
                f"{key} ({status}, parts_sent {parts_sent}): {arrived} of {len(outs)} parts "
                f"arrived; {str(last_error or '')[:120]}"
            )
    return {
        "pushes": len(rows),
        "parts": parts_total,
        "verdicts": dict(verdicts),
        "examples": {k: v[:5] for k, v in examples.items()},
    }
