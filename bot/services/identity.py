"""One customer across channels: find or create by any identity, and merge duplicates.

A customer is named by identities (phone, member number, unionid, WeCom external_userid,
WeChat openid), each unique across the store. When one incoming record carries identities
that already belong to two customers, those customers are the same person: the younger is
merged into the older (the survivor keeps the lower id), everything they own moves, and the
merged customer keeps ``merged_into`` so a lookup by its old id still finds the survivor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from bot.services import stats
from bot.services.names import name_fields
from storage.models import (
    AuditLog,
    CampaignParticipant,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    CustomerStats,
    CustomerTag,
    GuideRelation,
    Interaction,
    Order,
    Task,
)
from storage.upsert import insert_ignore

Pair = tuple[str, str]


@dataclass
class Claim:
    """What one incoming row says about a customer."""

    pairs: list[Pair]
    customer_id: int | None = None
    name: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


_MERGED_INTO = select(Customer.merged_into).where(Customer.id == bindparam("cid"))
_BY_IDENTITY = select(CustomerIdentity.customer_id).where(
    CustomerIdentity.kind == bindparam("kind"), CustomerIdentity.value == bindparam("value")
)


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
    survivors = canonical_many(
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
    for ref in list(groups.parent):
        if ref > 0 and groups.find(ref) != ref:
            merge(session, source_id=ref, target_id=real(ref), reason=reason)

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
                merge(session, source_id=ours, target_id=now, reason="concurrent create")
                for root, cid in created.items():
                    if cid == ours:
                        created[root] = now
    return Resolved([real(r) for r in refs], set(created.values()))


def _phone_fields(phone: str | None) -> dict[str, str | None]:
    return {"phone": phone, "phone_last4": phone[-4:] if phone else None}


class UnknownCustomer(LookupError):
    def __init__(self, customer_id: int) -> None:
        super().__init__(f"customer {customer_id} does not exist")
        self.customer_id = customer_id


def merge(session: Session, *, source_id: int, target_id: int, reason: str) -> None:
    """Move everything ``source`` owns to ``target`` and leave a forwarding ``merged_into``."""
    if source_id == target_id:
        return
    moved: dict[str, int] = {}

    def move(model: type, column: str = "customer_id") -> None:
        col = getattr(model, column)
        result = session.execute(update(model).where(col == source_id).values({column: target_id}))
        moved[model.__tablename__] = result.rowcount  # type: ignore[attr-defined]

    # Rows unique per customer: drop the source's copy where the target already has one.
    dup_tags = select(CustomerTag.tag_id).where(CustomerTag.customer_id == target_id)
    session.execute(
        delete(CustomerTag).where(
            CustomerTag.customer_id == source_id, CustomerTag.tag_id.in_(dup_tags)
        )
    )
    dup_rel = select(GuideRelation.staff_id).where(GuideRelation.customer_id == target_id)
    session.execute(
        delete(GuideRelation).where(
            GuideRelation.customer_id == source_id, GuideRelation.staff_id.in_(dup_rel)
        )
    )
    target_tasks = select(Task.guide_id, Task.day).where(Task.customer_id == target_id).subquery()
    session.execute(
        delete(Task).where(
            Task.customer_id == source_id,
            select(func.count())
            .select_from(target_tasks)
            .where(target_tasks.c.guide_id == Task.guide_id, target_tasks.c.day == Task.day)
            .scalar_subquery()
            > 0,
        )
    )
    dup_camp = select(CampaignParticipant.campaign_id).where(
        CampaignParticipant.customer_id == target_id
    )
    # Both were in one campaign: the survivor keeps the earliest registration and touch, and
    # is targeted if either was (order facts are recomputed from the moved orders).
    _fold_participation(session, source_id, target_id)
    session.execute(
        delete(CampaignParticipant).where(
            CampaignParticipant.customer_id == source_id,
            CampaignParticipant.campaign_id.in_(dup_camp),
        )
    )
    for model in (
        CustomerIdentity,
        Order,
        CustomerTag,
        GuideRelation,
        Interaction,
        Task,
        CampaignParticipant,
    ):
        move(model)
    session.execute(delete(CustomerStats).where(CustomerStats.customer_id == source_id))

    source = session.get(Customer, source_id)
    target = session.get(Customer, target_id)
    assert source is not None and target is not None
    for attr in (
        "name",
        "name_pinyin",
        "name_initials",
        "phone",
        "phone_last4",
        "gender",
        "birthday",
        "store_id",
        "guide_id",
    ):
        if getattr(target, attr) is None and getattr(source, attr) is not None:
            setattr(target, attr, getattr(source, attr))
    source.merged_into = target_id
    session.execute(
        update(Customer).where(Customer.merged_into == source_id).values(merged_into=target_id)
    )
    session.add(
        CustomerMerge(
            source_customer_id=source_id, target_customer_id=target_id, reason=reason, moved=moved
        )
    )
    session.add(
        AuditLog(
            channel="system",
            action="customer.merge",
            customer_id=target_id,
            detail={"source": source_id, "reason": reason, "moved": moved},
        )
    )
    session.flush()
    stats.recompute(session, [target_id])
    from bot.kpi import hooks as kpi_hooks  # deferred: the KPI package builds on this module

    kpi_hooks.customers_merged(session, [source_id, target_id])


def _fold_participation(session: Session, source_id: int, target_id: int) -> None:
    rows = session.scalars(
        select(CampaignParticipant).where(
            CampaignParticipant.customer_id.in_([source_id, target_id])
        )
    ).all()
    mine = {r.campaign_id: r for r in rows if r.customer_id == source_id}
    for kept in (r for r in rows if r.customer_id == target_id):
        gone = mine.get(kept.campaign_id)
        if gone is None:
            continue
        kept.registered_at = _earliest(kept.registered_at, gone.registered_at)
        kept.touched_at = _earliest(kept.touched_at, gone.touched_at)
        kept.targeted = kept.targeted or gone.targeted
    session.flush()


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a and b else a or b
