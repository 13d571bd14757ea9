"""Which rows merged customers: the row is reported ``merged`` with the ids folded in.

Read before ``identity.resolve``: the live customers each claim names. After it, every one of
them that is not the customer the row resolved to was merged into it (by this row, or by
another row of the batch naming the same person).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.intake.batch import RowResult
from bot.services import identity
from storage.models import CustomerIdentity


def named_before(session: Session, claims: Sequence[identity.Claim]) -> list[set[int]]:
    by_kind: dict[str, set[str]] = defaultdict(set)
    for c in claims:
        for kind, value in c.pairs:
            by_kind[kind].add(value)
    owner: dict[tuple[str, str], int] = {}
    for kind, values in by_kind.items():
        vals = sorted(values)
        for start in range(0, len(vals), 900):
            q = select(CustomerIdentity.value, CustomerIdentity.customer_id).where(
                CustomerIdentity.kind == kind, CustomerIdentity.value.in_(vals[start : start + 900])
            )
            owner.update(((kind, v), cid) for v, cid in session.execute(q))
    ids = set(owner.values()) | {c.customer_id for c in claims if c.customer_id}
    live = identity.canonical_many(session, ids)
    out = []
    for c in claims:
        named = {live.get(owner[p]) for p in c.pairs if p in owner}
        if c.customer_id:
            named.add(live.get(c.customer_id))
        out.append({cid for cid in named if cid is not None})
    return out


def report(results: Sequence[RowResult], before: Sequence[set[int]], ids: Sequence[int]) -> None:
    for result, named, cid in zip(results, before, ids, strict=True):
        result.merged = sorted(c for c in named if c != cid)
