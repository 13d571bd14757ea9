"""Tags both ways: local tag groups and tags <-> WeCom corp tags (企业客户标签).

- Catalog: ``get_corp_tag_list`` links WeCom groups/tags to local ones by id, else by name,
  creating the missing side locally (source ``wecom``); a local tag a guide uses on a WeCom
  contact is created in WeCom with ``add_corp_tag`` when first pushed.
- Out: a tag change in chat queues a ``mark_tag`` push (bot/services/tagging.py). At send
  time the push reads the customer's *current* tags, so pushes that overtake each other still
  converge on what the store says.
- In: ``change_external_tag`` events re-read the catalog; a contact's tags edited on the
  phone arrive as ``edit_external_contact`` and are re-read with the contact (contacts.py).
- API-made changes produce no callback (path/92117, 编辑客户企业标签), so the store is
  updated as soon as the API call succeeds.
- Reconcile (nightly, ``scrm wecom reconcile``): compares every contact's tags; where a
  local change is still queued or recently failed the store wins and is pushed again,
  elsewhere WeCom wins (a missed callback). The report lists what was repaired.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.outbox import enqueue
from bot.services import audit
from bot.settings import Settings
from integrations.wecom.api import Api, ApiError
from integrations.wecom.sender import WecomContext
from storage.base import utcnow
from storage.db import Database
from storage.models import (
    CustomerIdentity,
    CustomerTag,
    GuideRelation,
    OutboxMessage,
    Staff,
    Tag,
    TagGroup,
)

log = logging.getLogger(__name__)

EXISTS = 40071  # add_corp_tag: a tag (or group) of that name already exists
NO_RELATION = 84061
RECENT_FAILURE = timedelta(days=2)


@dataclass
class CatalogReport:
    groups_created: int = 0
    tags_created: int = 0
    linked: int = 0
    unlinked: int = 0


def pull_catalog(session: Session, api: Api) -> CatalogReport:
    report = CatalogReport()
    result = api.post("externalcontact/get_corp_tag_list", {})
    seen: set[str] = set()
    for g in result.get("tag_group") or []:
        if g.get("deleted"):
            continue
        gid, gname = str(g["group_id"]), str(g["group_name"])
        group = session.scalar(select(TagGroup).where(TagGroup.wecom_group_id == gid))
        if group is None:
            group = session.scalar(select(TagGroup).where(TagGroup.name == gname))
            if group is None:
                group = TagGroup(name=gname, open=False, wecom_group_id=gid)
                session.add(group)
                report.groups_created += 1
            else:
                group.wecom_group_id = gid
                report.linked += 1
            session.flush()
        for t in g.get("tag") or []:
            if t.get("deleted"):
                continue
            tid, tname = str(t["id"]), str(t["name"])
            seen.add(tid)
            tag = session.scalar(select(Tag).where(Tag.wecom_tag_id == tid))
            if tag is None:
                tag = session.scalar(select(Tag).where(Tag.group_id == group.id, Tag.name == tname))
                if tag is None:
                    session.add(
                        Tag(group_id=group.id, name=tname, source="wecom", wecom_tag_id=tid)
                    )
                    report.tags_created += 1
                else:
                    tag.wecom_tag_id = tid
                    report.linked += 1
            elif tag.name != tname:
                tag.name = tname  # renamed on WeCom's side
            session.flush()
    for tag in session.scalars(select(Tag).where(Tag.wecom_tag_id.is_not(None))):
        if tag.wecom_tag_id not in seen:
            tag.wecom_tag_id = None  # deleted in WeCom
            report.unlinked += 1
    session.flush()
    return report


def ensure_known(session: Session, api: Api, wecom_ids: Iterable[str]) -> None:
    """Pull the catalog when a contact carries a tag id the store has not seen."""
    ids = set(wecom_ids)
    if not ids:
        return
    known = set(session.scalars(select(Tag.wecom_tag_id).where(Tag.wecom_tag_id.in_(ids))))
    if ids - known:
        pull_catalog(session, api)


def ensure_wecom_tag(session: Session, api: Api, tag: Tag) -> str:
    if tag.wecom_tag_id:
        return tag.wecom_tag_id
    group = session.get(TagGroup, tag.group_id)
    assert group is not None
    body: dict[str, Any] = {"tag": [{"name": tag.name}]}
    if group.wecom_group_id:
        body["group_id"] = group.wecom_group_id
    else:
        body["group_name"] = group.name
    try:
        made = api.post("externalcontact/add_corp_tag", body)["tag_group"]
    except ApiError as exc:
        if exc.errcode != EXISTS:
            raise
        # Already there (created on the phone, or our earlier call's answer was lost).
        pull_catalog(session, api)
        session.refresh(tag)
        if not tag.wecom_tag_id:
            raise
        return tag.wecom_tag_id
    if not group.wecom_group_id:
        group.wecom_group_id = str(made["group_id"])
    for t in made.get("tag") or []:
        if t.get("name") == tag.name:
            tag.wecom_tag_id = str(t["id"])
    session.flush()
    if not tag.wecom_tag_id:
        raise ApiError(None, "add_corp_tag answered without the tag", "add_corp_tag")
    return tag.wecom_tag_id


def _pending_tags(session: Session, customer_id: int, *, recent_dead: bool = False) -> set[int]:
    """Tag ids with a local change still queued for WeCom (or, optionally, recently failed)."""
    statuses = ["pending", "dead"] if recent_dead else ["pending"]
    rows = session.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.channel == "wecom",
            OutboxMessage.kind == "mark_tag",
            OutboxMessage.target == f"customer:{customer_id}",
            OutboxMessage.status.in_(statuses),
            OutboxMessage.created_at > utcnow() - RECENT_FAILURE,
        )
    )
    return {int(t) for payload in rows for t in payload.get("tags") or []}


def set_contact_tags(session: Session, customer_id: int, wecom_ids: set[str]) -> int:
    """Make the customer's WeCom-mapped tags equal ``wecom_ids``; returns how many changed.

    Tags with a local change still queued for WeCom are left alone: the push will bring
    WeCom in line, and pulling first would undo the guide's change.
    """
    mapped = dict(
        session.execute(select(Tag.wecom_tag_id, Tag.id).where(Tag.wecom_tag_id.is_not(None))).all()
        if wecom_ids
        else []
    )
    want = {mapped[w] for w in wecom_ids if w in mapped}
    have = set(
        session.scalars(
            select(CustomerTag.tag_id)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id == customer_id, Tag.wecom_tag_id.is_not(None))
        )
    )
    hold = _pending_tags(session, customer_id) if want != have else set()
    add, drop = want - have - hold, have - want - hold
    for tag_id in add:
        session.add(CustomerTag(customer_id=customer_id, tag_id=tag_id, source="wecom"))
    if drop:
        session.execute(
            delete(CustomerTag).where(
                CustomerTag.customer_id == customer_id, CustomerTag.tag_id.in_(drop)
            )
        )
    if add or drop:
        session.flush()
        audit.record(
            session,
            staff_id=None,
            channel="wecom",
            action="tag.sync",
            customer_id=customer_id,
            added=sorted(add),
            removed=sorted(drop),
        )
    return len(add) + len(drop)


def push_customer_tags(ctx: WecomContext, customer_id: int, tag_ids: list[int] | None) -> None:
    """The ``mark_tag`` outbox kind: bring WeCom in line with the store for these tags."""
    api = ctx.contact_api
    with ctx.db.uow() as uow:
        s = uow.session
        ids = [int(t) for t in tag_ids or []]
        tags = list(s.scalars(select(Tag).where(Tag.id.in_(ids)))) if ids else []
        present = set(
            s.scalars(
                select(CustomerTag.tag_id).where(
                    CustomerTag.customer_id == customer_id, CustomerTag.tag_id.in_(ids)
                )
            )
        )
        add = [ensure_wecom_tag(s, api, t) for t in tags if t.id in present]
        remove = [t.wecom_tag_id for t in tags if t.id not in present and t.wecom_tag_id]
        uow.commit()  # the ids from add_corp_tag are kept even if mark_tag fails below
        externals = list(
            s.scalars(
                select(CustomerIdentity.value).where(
                    CustomerIdentity.customer_id == customer_id,
                    CustomerIdentity.kind == "wecom_external_userid",
                )
            )
        )
        userids = list(
            s.scalars(
                select(Staff.wecom_userid)
                .join(GuideRelation, GuideRelation.staff_id == Staff.id)
                .where(
                    GuideRelation.customer_id == customer_id,
                    GuideRelation.removed_at.is_(None),
                    Staff.wecom_userid.is_not(None),
                )
            )
        )
    if not (add or remove) or not externals or not userids:
        return
    failures: list[ApiError] = []
    for userid in userids:
        for ext in externals:
            body: dict[str, Any] = {"userid": userid, "external_userid": ext}
            if add:
                body["add_tag"] = add
            if remove:
                body["remove_tag"] = remove
            try:
                api.post("externalcontact/mark_tag", body)
            except ApiError as exc:
                if exc.retryable:
                    raise  # mark_tag is idempotent: the whole push is retried
                failures.append(exc)
    # A customer with several external ids (merged) is related to a user through one of
    # them; 84061 on the others is expected. Only fail when nothing could be marked.
    if failures and len(failures) == len(userids) * len(externals):
        raise failures[0]


def on_tag_event(ctx: WecomContext, fields: dict[str, str]) -> None:
    """``change_external_tag``: create/update/shuffle re-read the catalog; delete unlinks."""
    change, wid, kind = fields.get("ChangeType"), fields.get("Id", ""), fields.get("TagType")
    with ctx.db.uow() as uow:
        s = uow.session
        if change == "delete":
            if kind == "tag_group":
                group = s.scalar(select(TagGroup).where(TagGroup.wecom_group_id == wid))
                tags = list(s.scalars(select(Tag).where(Tag.group_id == group.id))) if group else []
                if group is not None:
                    group.wecom_group_id = None
            else:
                tags = list(s.scalars(select(Tag).where(Tag.wecom_tag_id == wid)))
            for tag in tags:
                # WeCom removed it from every contact; the local tag stays, unlinked.
                if tag.wecom_tag_id:
                    s.execute(delete(CustomerTag).where(CustomerTag.tag_id == tag.id))
                    tag.wecom_tag_id = None
        else:
            pull_catalog(s, ctx.contact_api)
        uow.commit()


# --- reconcile -------------------------------------------------------------------------------


@dataclass
class ReconcileReport:
    catalog: CatalogReport = field(default_factory=CatalogReport)
    tags_created_in_wecom: int = 0
    contacts: int = 0
    contacts_added: int = 0
    pulled: int = 0  # customers whose tags were taken from WeCom
    pushed: int = 0  # customers whose local tags were queued for WeCom again
    drift: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        c = self.catalog
        return [
            f"catalog: {c.groups_created} groups and {c.tags_created} tags created locally, "
            f"{c.linked} linked by name, {c.unlinked} unlinked (deleted in WeCom)",
            f"tags created in WeCom: {self.tags_created_in_wecom}",
            f"contacts checked: {self.contacts} ({self.contacts_added} new to the store)",
            f"tag drift repaired: {self.pulled} from WeCom, {self.pushed} pushed to WeCom",
            *self.drift[:50],
        ]


def reconcile(ctx: WecomContext) -> ReconcileReport:
    from integrations.wecom.contacts import PAGE, apply_contact, pages

    api = ctx.contact_api
    report = ReconcileReport()
    with ctx.db.uow() as uow:
        s = uow.session
        report.catalog = pull_catalog(s, api)
        used = select(CustomerTag.tag_id).join(
            CustomerIdentity,
            (CustomerIdentity.customer_id == CustomerTag.customer_id)
            & (CustomerIdentity.kind == "wecom_external_userid"),
        )
        for tag in s.scalars(select(Tag).where(Tag.wecom_tag_id.is_(None), Tag.id.in_(used))):
            ensure_wecom_tag(s, api, tag)
            report.tags_created_in_wecom += 1
        uow.commit()
    users = [str(u) for u in api.get("externalcontact/get_follow_user_list").get("follow_user", [])]
    for start in range(0, len(users), PAGE):
        for contacts in pages(api, users[start : start + PAGE]):
            with ctx.db.uow() as uow:
                for contact in contacts:
                    _reconcile_one(uow.session, contact, report, apply_contact)
                uow.commit()
    return report


def nightly_reconcile(db: Database, settings: Settings) -> ReconcileReport:
    """The scheduler's entry point: reconcile with a context built from settings."""
    return reconcile(WecomContext.build(lambda: db, settings))


def _reconcile_one(session: Session, contact: Any, report: ReconcileReport, apply: Any) -> None:
    from bot.services.identity import lookup

    report.contacts += 1
    cid = lookup(session, "wecom_external_userid", contact.external_userid)
    if cid is None:
        report.contacts_added += 1
        apply(session, contact, complete=False)
        return
    remote = {t for f in contact.follows for t in f.tag_ids}
    local = set(
        session.scalars(
            select(Tag.wecom_tag_id)
            .join(CustomerTag, CustomerTag.tag_id == Tag.id)
            .where(CustomerTag.customer_id == cid, Tag.wecom_tag_id.is_not(None))
        )
    )
    if remote == local:
        return
    mine = _pending_tags(session, cid, recent_dead=True)
    if mine:
        ids = set(session.scalars(select(Tag.id).where(Tag.wecom_tag_id.in_(remote ^ local))))
        enqueue(
            session,
            channel="wecom",
            kind="mark_tag",
            target=f"customer:{cid}",
            payload={"customer_id": cid, "tags": sorted(ids | mine)},
            key=f"wecom-reconcile:{cid}:{utcnow():%Y%m%d}",
        )
        report.pushed += 1
        report.drift.append(f"customer {cid}: store wins ({len(ids | mine)} tags pushed)")
    else:
        set_contact_tags(session, cid, remote)
        report.pulled += 1
        report.drift.append(
            f"customer {cid}: WeCom wins (+{len(remote - local)} −{len(local - remote)})"
        )
