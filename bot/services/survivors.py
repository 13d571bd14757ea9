"""Which customer survives a merge, and the row locks that keep that answer true.

A merged customer keeps ``merged_into``. Every writer that attaches something to a customer
(an order, a tag, a merge) first locks the surviving customers it will write to with
``lock_survivors``: ``SELECT … FOR UPDATE`` in ascending id order, so two writers never wait
on each other in a circle. A merge holds the locks of both customers, so once a writer holds a
customer's lock and has seen it unmerged, no merge can move that customer's rows away until
the writer commits, and anything the writer reads afterwards (its stats) is current.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from storage.models import Customer

_MERGED_INTO = select(Customer.merged_into).where(Customer.id == bindparam("cid"))
# A writer that keeps finding its customers merged under it is racing a merge storm; each
# round waits for the merge that beat it, so a few rounds always settle.
_MAX_ROUNDS = 20


def canonical_id(session: Session, customer_id: int) -> int | None:
    """Follow ``merged_into`` to the surviving customer (None if the id never existed)."""
    seen: set[int] = set()
    current: int | None = customer_id
    while current is not None and current not in seen:
        seen.add(current)
        nxt = session.execute(_MERGED_INTO, {"cid": current}).one_or_none()
        if nxt is None:
            return None
        if nxt[0] is None:
            return current
        current = nxt[0]
    return current


def canonical_many(session: Session, ids: Iterable[int]) -> dict[int, int | None]:
    """``canonical_id`` for many ids: one query per 900 ids; merge chains (rare) one by one."""
    wanted = sorted(set(ids))
    out: dict[int, int | None] = dict.fromkeys(wanted)
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        for cid, merged_into in session.execute(
            select(Customer.id, Customer.merged_into).where(Customer.id.in_(chunk))
        ):
            out[cid] = cid if merged_into is None else canonical_id(session, merged_into)
    return out


def lock_survivors(session: Session, ids: Iterable[int]) -> dict[int, int | None]:
    """Lock the surviving customers of ``ids`` until commit; map each id to its survivor.

    The survivors are locked in id order inside a savepoint. Should one of them turn out to
    have been merged while we waited for its lock, the savepoint is rolled back (which frees
    the locks it took, on PostgreSQL) and the survivors are looked up again: we never hold
    one customer while waiting for a lower one. SQLite has no row locks and needs none: a
    writing unit of work holds the database's write lock from its first statement.
    """
    wanted = set(ids)
    if session.get_bind().dialect.name != "postgresql":
        return canonical_many(session, wanted)
    for _ in range(_MAX_ROUNDS):
        mapping = canonical_many(session, wanted)
        survivors = sorted({s for s in mapping.values() if s is not None})
        if not survivors:
            return mapping
        savepoint = session.begin_nested()
        settled = True
        for start in range(0, len(survivors), 900):
            rows = session.execute(
                select(Customer.id, Customer.merged_into)
                .where(Customer.id.in_(survivors[start : start + 900]))
                .order_by(Customer.id)
                .with_for_update()
            )
            if any(merged_into is not None for _, merged_into in rows):
                settled = False
                break
        if settled:
            savepoint.commit()  # the locks now belong to the enclosing transaction
            return mapping
        savepoint.rollback()
    raise RuntimeError(f"customers {sorted(wanted)[:5]} kept being merged; try again")


def lock_customer(session: Session, customer_id: int) -> int | None:
    """``lock_survivors`` for one customer: its survivor, locked (None if it never existed)."""
    return lock_survivors(session, [customer_id]).get(customer_id)
