"""Tagging rules: which tag a spec names, who may create one, idempotent add and remove.

A spec is ``tag`` or ``group:tag``. Managers may create tags (and groups) anywhere; guides
only in groups marked open. Every change goes to the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.outbox import enqueue
from bot.services import audit
from bot.services.survivors import lock_customer
from storage.models import CustomerIdentity, CustomerTag, Tag, TagGroup

MAX_TAG = 30


class TagRefused(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass
class TagChange:
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def _label(group: TagGroup, tag: Tag) -> str:
    return f"{group.name}:{tag.name}"


def split_spec(spec: str) -> tuple[str | None, str]:
    group, sep, name = spec.partition(":")
    if not sep:
        return None, spec.strip()
    return group.strip() or None, name.strip()


def resolve(
    session: Session, spec: str, *, may_create: bool, is_manager: bool, default_group: str
) -> tuple[TagGroup, Tag, bool]:
    """The tag a spec names, creating it when allowed. Returns (group, tag, created)."""
    group_name, name = split_spec(spec)
    if not name or len(name) > MAX_TAG or any(not ch.isprintable() for ch in name):
        raise TagRefused(
            f"标签“{spec}”无效：写 1 到 {MAX_TAG} 个字，例如 VIP 或 偏好:红色。",
            f"'{spec}' is not a valid tag: use 1 to {MAX_TAG} characters, e.g. VIP or 偏好:红色.",
        )
    if group_name is None:
        found = session.execute(select(TagGroup, Tag).join(Tag).where(Tag.name == name)).all()
        if len(found) == 1:
            return found[0][0], found[0][1], False
        if len(found) > 1:
            groups = "、".join(g.name for g, _ in found)
            raise TagRefused(
                f"“{name}”在多个分组里（{groups}），请写成 分组:{name}。",
                f"'{name}' is in several groups ({groups}); write it as group:{name}.",
            )
        group_name = default_group
    group = session.scalar(select(TagGroup).where(TagGroup.name == group_name))
    tag = None
    if group is not None:
        tag = session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == name))
        if tag is not None:
            return group, tag, False
    if not may_create:
        raise TagRefused(f"没有标签“{spec}”。", f"There is no tag '{spec}'.")
    if group is None:
        if not is_manager and group_name != default_group:
            raise TagRefused(
                f"没有标签分组“{group_name}”。只有店长可以新建分组；或者用已有分组的标签。",
                f"There is no tag group '{group_name}'. Only managers create groups; use a tag from an existing group.",
            )
        group = TagGroup(name=group_name, open=group_name == default_group)
        session.add(group)
        session.flush()
    elif not group.open and not is_manager:
        raise TagRefused(
            f"分组“{group.name}”不开放给导购新建标签。请店长新建“{name}”，或选用该组已有标签。",
            f"Guides cannot add new tags to the group '{group.name}'. Ask a manager to create '{name}', or use one of its existing tags.",
        )
    tag = Tag(group_id=group.id, name=name, source="manual")
    session.add(tag)
    session.flush()
    return group, tag, True


def add(
    session: Session,
    customer_id: int,
    specs: list[str],
    *,
    staff_id: int,
    is_manager: bool,
    channel: str,
    default_group: str,
) -> TagChange:
    result = TagChange()
    pushed: list[int] = []
    customer_id = lock_customer(session, customer_id) or customer_id  # a merge may race us
    for spec in dict.fromkeys(specs):
        group, tag, created = resolve(
            session, spec, may_create=True, is_manager=is_manager, default_group=default_group
        )
        label = _label(group, tag)
        if created:
            result.created.append(label)
        if session.get(CustomerTag, (customer_id, tag.id)) is not None:
            result.unchanged.append(label)
            continue
        session.add(
            CustomerTag(customer_id=customer_id, tag_id=tag.id, source="manual", staff_id=staff_id)
        )
        result.changed.append(label)
        pushed.append(tag.id)
    if result.changed:
        session.flush()
        push_to_channels(session, customer_id, pushed)
        audit.record(
            session,
            staff_id=staff_id,
            channel=channel,
            action="tag.add",
            customer_id=customer_id,
            tags=result.changed,
            created=result.created,
        )
    return result


def remove(
    session: Session,
    customer_id: int,
    specs: list[str],
    *,
    staff_id: int,
    channel: str,
    default_group: str,
) -> TagChange:
    result = TagChange()
    pushed: list[int] = []
    customer_id = lock_customer(session, customer_id) or customer_id  # a merge may race us
    for spec in dict.fromkeys(specs):
        group, tag, _ = resolve(
            session, spec, may_create=False, is_manager=False, default_group=default_group
        )
        label = _label(group, tag)
        gone = session.execute(
            delete(CustomerTag).where(
                CustomerTag.customer_id == customer_id, CustomerTag.tag_id == tag.id
            )
        )
        (result.changed if gone.rowcount else result.unchanged).append(label)  # type: ignore[attr-defined]
        if gone.rowcount:  # type: ignore[attr-defined]
            pushed.append(tag.id)
    if result.changed:
        push_to_channels(session, customer_id, pushed)
        audit.record(
            session,
            staff_id=staff_id,
            channel=channel,
            action="tag.remove",
            customer_id=customer_id,
            tags=result.changed,
        )
    return result


def push_to_channels(session: Session, customer_id: int, tag_ids: list[int]) -> None:
    """Queue the change for the customer's chat platform, in this transaction.

    Only WeCom has customer tags today: a customer known there (a WeCom external_userid)
    gets a ``mark_tag`` push; the WeCom sender reads the customer's current tags when it
    sends, so pushes that overtake each other still converge. Rows for a channel that is
    not configured are never claimed by the outbox worker.
    """
    known = session.scalar(
        select(CustomerIdentity.id)
        .where(
            CustomerIdentity.customer_id == customer_id,
            CustomerIdentity.kind == "wecom_external_userid",
        )
        .limit(1)
    )
    if known is None or not tag_ids:
        return
    enqueue(
        session,
        channel="wecom",
        kind="mark_tag",
        target=f"customer:{customer_id}",
        payload={"customer_id": customer_id, "tags": sorted(set(tag_ids))},
        key=f"tag:{customer_id}:{uuid.uuid4().hex}",
    )
