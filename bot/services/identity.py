"""One customer across channels: find or create by any identity, and merge duplicates.

A customer is named by identities (phone, member number, unionid, WeCom external_userid,
WeChat openid), each unique across the store. When one incoming record carries identities
that already belong to two customers, those customers are the same person: the younger is
merged into the older (the survivor keeps the lower id), everything they own moves, and the
merged customer keeps ``merged_into`` so a lookup by its old id still finds the survivor.

``resolve`` locks every existing customer it will write to before deciding anything
(``survivors.lock_survivors``), so a merge and an order racing it on another replica are
serialised: the order lands on the survivor, and its stats count it. ``Resolved.merged`` names
the customers that absorbed another one in the call (for a ``merged`` intake status).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from bot.services.merging import merge
from bot.services.names import name_fields
from bot.services.survivors import canonical_id, canonical_many, lock_customer, lock_survivors
from storage.models import Customer, CustomerIdentity
from storage.upsert import insert_ignore

__all__ = [
    "Claim",
    "Resolved",
    "UnknownCustomer",
    "canonical_id",
    "canonical_many",
    "lock_customer",
    "lock_survivors",
    "lookup",
    "merge",
    "resolve",
]

Pair = tuple[str, str]


@dataclass
class Claim:
    """What one incoming row says about a customer."""

    pairs: list[Pair]
    customer_id: int | None = None
    name: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


_BY_IDENTITY = select(CustomerIdentity.customer_id).where(
    CustomerIdentity.kind == bindparam("kind"), CustomerIdentity.value == bindparam("value")
)


def lookup(session: Session, kind: str, value: str) -> int | None:
    found = session.scalar(_BY_IDENTITY, {"kind": kind, "value": value})
    return canonical_id(session, found) if found is not None else None


def _existing(session: Session, pairs: Iterable[Pair]) -> dict[Pair, int]:
    by_kind: dict[str, set[str]] = defaultdict(set)
    for kind, value in pairs:
        by_kind[kind].add(value)
    found: dict[Pair, int] = {}
    for kind, values in by_kind.items():
        vals = sorted(values)
        for start in range(0, len(vals), 900):  # SQLite caps bound parameters
            rows = session.execute(
                select(CustomerIdentity.value, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == kind,
                    CustomerIdentity.value.in_(vals[start : start + 900]),
                )
            )
            for value, customer_id in rows:
                found[(kind, value)] = customer_id
    return found


class _Groups:
    """Union-find over customer refs: positive ids exist, negative ids are yet to be created."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, ref: int) -> int:
        self.parent.setdefault(ref, ref)
        while self.parent[ref] != ref:
            self.parent[ref] = self.parent[self.parent[ref]]
            ref = self.parent[ref]
        return ref

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        # Existing customers win over new ones; among existing, the oldest (lowest id).
        keep, drop = (ra, rb) if _older(ra, rb) else (rb, ra)
        self.parent[drop] = keep
        return keep


def _older(a: int, b: int) -> bool:
    if (a > 0) != (b > 0):
        return a > 0
    return a < b if a > 0 else a > b


@dataclass
class Resolved:
    ids: list[int]
    created: set[int]
    # Customers that absorbed another customer during this call (survivors of a merge).
    merged: set[int] = field(default_factory=set)


def resolve(
    session: Session, claims: Sequence[Claim], *, reason: str = "shared identity"
) -> Resolved:
    """Customer id for every claim, creating and merging customers as the identities demand.

    Set-based: one SELECT per identity kind, one INSERT for new customers, one for new
    identities. Merges are rare and done one by one.
    """
    all_pairs = {p for c in claims for p in c.pairs}
    owner = _existing(session, all_pairs)
    known = set(owner)
    # Lock every existing customer this batch will write to (and learn who survives) before
    # deciding anything: a merge or order racing us either finished first or waits for us.
    survivors = lock_survivors(
        session, {c.customer_id for c in claims if c.customer_id} | set(owner.values())
    )
    for pair, who in owner.items():
        survivor = survivors.get(who)
        if survivor is not None and survivor != who:
            owner[pair] = survivor

    groups = _Groups()
    next_new = -1
    refs: list[int] = []
    for claim in claims:
        mine: list[int] = [owner[p] for p in claim.pairs if p in owner]
        if claim.customer_id:
            named = survivors.get(claim.customer_id)
            if named is None:
                raise UnknownCustomer(claim.customer_id)
            mine.append(named)
        if not mine:
            mine = [next_new]
            next_new -= 1
        ref = mine[0]
        for other in mine[1:]:
            ref = groups.union(ref, other)
        ref = groups.find(ref)
        for pair in claim.pairs:
            if pair not in owner:
                owner[pair] = ref
            elif groups.find(owner[pair]) != ref:
                ref = groups.union(ref, owner[pair])
        refs.append(ref)

    # Create one customer per group of new refs.
    roots = {groups.find(r) for r in refs}
    # Batch order: the first new customer of a batch gets the lowest id.
    new_roots = sorted((r for r in roots if r < 0), reverse=True)
    names: dict[int, str | None] = {}
    extras: dict[int, dict[str, object]] = {}
    for claim, ref in zip(claims, refs, strict=True):
        root = groups.find(ref)
        if root < 0:
            if claim.name and not names.get(root):
                names[root] = claim.name
            extras.setdefault(root, claim.extra)
    created: dict[int, int] = {}
    if new_roots:
        phones = {groups.find(owner[p]): p[1] for p in owner if p[0] == "phone"}
        fresh = [
            Customer(
                **name_fields(names.get(root)),
                **_phone_fields(phones.get(root)),
                **extras.get(root, {}),
            )
            for root in new_roots
        ]
        session.add_all(fresh)
        session.flush()  # one multi-row INSERT for the whole batch
        created = {root: c.id for root, c in zip(new_roots, fresh, strict=True)}

    def real(ref: int) -> int:
        root = groups.find(ref)
        return created[root] if root < 0 else root

    # Merge existing customers that turned out to be one person.
    merged: set[int] = set()
    for ref in list(groups.parent):
        if ref > 0 and groups.find(ref) != ref:
            merged.add(merge(session, source_id=ref, target_id=real(ref), reason=reason))

    new_pairs = [
        {"customer_id": real(ref), "kind": kind, "value": value}
        for (kind, value), ref in owner.items()
        if (kind, value) not in known
    ]
    if new_pairs:
        insert_ignore(session, CustomerIdentity, new_pairs, ["kind", "value"])
        # Another transaction may have claimed an identity first: fold our customer into it.
        winners = _existing(session, [(str(p["kind"]), str(p["value"])) for p in new_pairs])
        for p in new_pairs:
            now = winners.get((str(p["kind"]), str(p["value"])))
            ours = int(str(p["customer_id"]))
            if now is not None and now != ours:
                # Not a merge the caller asked for: the same new person, created twice.
                survivor = merge(session, source_id=ours, target_id=now, reason="concurrent create")
                for root, cid in created.items():
                    if cid == ours:
                        created[root] = survivor
    return Resolved([real(r) for r in refs], set(created.values()), merged)


def _phone_fields(phone: str | None) -> dict[str, str | None]:
    return {"phone": phone, "phone_last4": phone[-4:] if phone else None}


class UnknownCustomer(LookupError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"customer {customer_id} does not exist")
        self.customer_id = customer_id
