"""Customer contact (客户联系): the full sync, and the change events that keep it current.

Full sync (``scrm wecom sync``): every follow user (``externalcontact/get_follow_user_list``),
then ``externalcontact/batch/get_by_user`` for up to 100 userids at a time, paged by cursor
with ``limit`` 100 (both maxima from developer.work.weixin.qq.com/document/path/93010).
wechatpy 1.8.18 has no wrapper for it, so it is called raw. Each page lands in one
transaction: customers (by external_userid, merged by unionid), guide relations with remark
and added time, and the contact's corp tags.

Events (``change_external_contact``, path/92130): add and edit re-read the contact with
``externalcontact/get`` (an edit on the phone may change remark or tags, and the event does
not say which); del_external_contact (the guide removed the customer), del_follow_user (the
customer removed the guide: stage ``deleted`` and a loss alert) and transfer_fail close or
report the relation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.services import audit, identity
from bot.services.names import name_fields
from integrations.wecom import alerts
from integrations.wecom.api import ApiError
from integrations.wecom.sender import WecomContext
from storage.base import utcnow
from storage.models import Customer, CustomerStats, GuideRelation, IdentityKind, Staff
from storage.upsert import insert_ignore

log = logging.getLogger(__name__)

PAGE = 100  # batch/get_by_user: at most 100 userids per call and 100 contacts per page
EXT = IdentityKind.WECOM_EXTERNAL_USERID.value
NO_RELATION = 84061


@dataclass
class Follow:
    userid: str
    remark: str
    createtime: int
    tag_ids: list[str]


@dataclass
class Contact:
    external_userid: str
    name: str | None
    unionid: str | None
    follows: list[Follow] = field(default_factory=list)


def _contact(raw: dict[str, Any]) -> Contact:
    return Contact(str(raw["external_userid"]), raw.get("name") or None, raw.get("unionid") or None)


def contact_from_get(result: dict[str, Any]) -> Contact:
    """``externalcontact/get``: tags come as objects under ``tags``."""
    contact = _contact(result["external_contact"])
    for f in result.get("follow_user") or []:
        contact.follows.append(
            Follow(
                str(f["userid"]),
                f.get("remark") or "",
                int(f.get("createtime") or 0),
                [str(t["tag_id"]) for t in f.get("tags") or [] if t.get("type", 1) == 1],
            )
        )
    return contact


def contacts_from_page(result: dict[str, Any]) -> list[Contact]:
    """``batch/get_by_user``: one row per (contact, follow user), tags as ``tag_id``."""
    by_ext: dict[str, Contact] = {}
    for row in result.get("external_contact_list") or []:
        c = _contact(row["external_contact"])
        f = row.get("follow_info") or {}
        contact = by_ext.setdefault(c.external_userid, c)
        contact.follows.append(
            Follow(
                str(f.get("userid") or ""),
                f.get("remark") or "",
                int(f.get("createtime") or 0),
                [str(t) for t in f.get("tag_id") or []],
            )
        )
    return list(by_ext.values())


def _at(ts: int | str | None) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC) if ts and str(ts).isdigit() else utcnow()


def apply_contact(session: Session, contact: Contact, *, complete: bool) -> int:
    """Bring one contact into the store; ``complete``: ``follows`` lists every follow user
    (a relation missing from it ended). Returns the customer id."""
    from integrations.wecom.tags import set_contact_tags

    pairs = [(EXT, contact.external_userid)]
    if contact.unionid:
        pairs.append((IdentityKind.UNIONID.value, contact.unionid))
    claim = identity.Claim(pairs=pairs, name=contact.name)
    cid = identity.resolve(session, [claim], reason="wecom unionid").ids[0]
    customer = session.get(Customer, cid)
    assert customer is not None
    if contact.name and not customer.name:
        for k, v in name_fields(contact.name).items():
            setattr(customer, k, v)
    userids = [f.userid for f in contact.follows]
    staff = {
        s.wecom_userid: s
        for s in session.scalars(select(Staff).where(Staff.wecom_userid.in_(userids)))
    }
    kept: set[int] = set()
    for f in contact.follows:
        guide = staff.get(f.userid)
        if guide is None:
            log.info("wecom follow user %s is not registered staff; relation skipped", f.userid)
            continue
        kept.add(guide.id)
        added = _at(f.createtime)
        insert_ignore(
            session,
            GuideRelation,
            [{"customer_id": cid, "staff_id": guide.id, "added_at": added, "added_by": "wecom"}],
            ["customer_id", "staff_id"],
        )
        session.execute(
            update(GuideRelation)
            .where(GuideRelation.customer_id == cid, GuideRelation.staff_id == guide.id)
            .values(remark=f.remark or None, added_at=added, removed_at=None, removed_by=None)
        )
        if customer.guide_id is None:
            customer.guide_id = guide.id
        if customer.store_id is None:
            customer.store_id = guide.store_id
    if complete:
        gone = select(Staff.id).where(Staff.wecom_userid.is_not(None), Staff.id.not_in(kept))
        session.execute(
            update(GuideRelation)
            .where(
                GuideRelation.customer_id == cid,
                GuideRelation.removed_at.is_(None),
                GuideRelation.staff_id.in_(gone),
            )
            .values(removed_at=utcnow(), removed_by="sync")
        )
    if kept:
        _undelete(session, cid)
    set_contact_tags(session, cid, {t for f in contact.follows for t in f.tag_ids})
    return cid


def _undelete(session: Session, customer_id: int) -> None:
    """A customer who re-adds a guide is no longer ``deleted``: let the lifecycle decide."""
    session.execute(
        update(CustomerStats)
        .where(CustomerStats.customer_id == customer_id, CustomerStats.stage == "deleted")
        .values(stage="prospect", stage_reason=None, dirty=True, next_change_at=utcnow())
    )


# --- full sync ------------------------------------------------------------------------------


@dataclass
class SyncReport:
    follow_users: int = 0
    contacts: int = 0
    relations: int = 0
    pages: int = 0


def sync_all(ctx: WecomContext, progress: Callable[[int, int], None] | None = None) -> SyncReport:
    from integrations.wecom.tags import pull_catalog

    api = ctx.contact_api
    with ctx.db.uow() as uow:
        pull_catalog(uow.session, api)
        uow.commit()
    users = [str(u) for u in api.get("externalcontact/get_follow_user_list").get("follow_user", [])]
    report = SyncReport(follow_users=len(users))
    for start in range(0, len(users), PAGE):
        batch = users[start : start + PAGE]
        for contacts in pages(api, batch):
            with ctx.db.uow() as uow:
                for c in contacts:
                    apply_contact(uow.session, c, complete=False)
                    report.relations += len(c.follows)
                uow.commit()
            report.contacts += len(contacts)
            report.pages += 1
        if progress:
            progress(min(start + PAGE, len(users)), len(users))
    return report


def pages(api: Any, userids: list[str]) -> Any:
    """Yield the contacts of ``userids`` one page at a time, following ``next_cursor``."""
    cursor = ""
    while True:
        result = api.post(
            "externalcontact/batch/get_by_user",
            {"userid_list": userids, "cursor": cursor, "limit": PAGE},
        )
        yield contacts_from_page(result)
        cursor = result.get("next_cursor") or ""
        if not cursor:
            return


# --- events ---------------------------------------------------------------------------------


def on_contact_event(ctx: WecomContext, fields: dict[str, str], key: str) -> None:
    change = fields.get("ChangeType", "")
    userid, ext = fields.get("UserID", ""), fields.get("ExternalUserID", "")
    at = _at(fields.get("CreateTime"))
    if not ext:
        return
    if change in ("add_external_contact", "edit_external_contact"):
        try:
            result = ctx.contact_api.get("externalcontact/get", external_userid=ext)
        except ApiError as exc:
            if exc.errcode == NO_RELATION:  # already gone again: a later event will say so
                log.info("wecom %s for %s: no relation any more", change, ext)
                return
            raise
        contact = contact_from_get(result)
        from integrations.wecom.tags import ensure_known

        with ctx.db.uow() as uow:
            ensure_known(
                uow.session, ctx.contact_api, {t for f in contact.follows for t in f.tag_ids}
            )
            apply_contact(uow.session, contact, complete=True)
            uow.commit()
        return
    with ctx.db.uow() as uow:
        s = uow.session
        customer_id = identity.lookup(s, EXT, ext)
        guide = s.scalar(select(Staff).where(Staff.wecom_userid == userid)) if userid else None
        if change == "transfer_fail":
            _transfer_failed(ctx, s, fields, customer_id, guide, at, key)
        elif customer_id is not None and guide is not None:
            if change == "del_follow_user":
                _customer_left(ctx, s, customer_id, guide, at, key)
            elif change == "del_external_contact":
                by = "transfer" if fields.get("Source") == "DELETE_BY_TRANSFER" else "guide"
                if _close(s, customer_id, guide, at, by) and by == "guide":
                    alerts.bulk_delete_check(s, ctx.settings, guide=guide, at=at)
        else:
            log.info("wecom %s for unknown %s/%s: nothing to update", change, userid, ext)
        uow.commit()


def _close(
    session: Session, customer_id: int, guide: Staff, at: datetime, by: str
) -> GuideRelation | None:
    rel = session.scalar(
        select(GuideRelation).where(
            GuideRelation.customer_id == customer_id, GuideRelation.staff_id == guide.id
        )
    )
    if rel is None or rel.removed_at is not None:
        return None
    rel.removed_at, rel.removed_by = at, by
    session.flush()
    return rel


def _customer_left(
    ctx: WecomContext, session: Session, customer_id: int, guide: Staff, at: datetime, key: str
) -> None:
    rel = _close(session, customer_id, guide, at, "customer")
    if rel is None:
        return
    still = session.scalar(
        select(GuideRelation.id).where(
            GuideRelation.customer_id == customer_id, GuideRelation.removed_at.is_(None)
        )
    )
    if still is None:
        insert_ignore(session, CustomerStats, [{"customer_id": customer_id}], ["customer_id"])
        session.execute(
            update(CustomerStats)
            .where(CustomerStats.customer_id == customer_id)
            .values(stage="deleted", stage_reason='{"k": "deleted"}', next_change_at=None)
        )
    audit.record(
        session,
        staff_id=guide.id,
        channel="wecom",
        action="contact.deleted_by_customer",
        customer_id=customer_id,
    )
    alerts.loss_alert(
        session, ctx.settings, customer_id=customer_id, guide=guide, relation=rel, at=at, key=key
    )


def _transfer_failed(
    ctx: WecomContext,
    session: Session,
    fields: dict[str, str],
    customer_id: int | None,
    guide: Staff | None,
    at: datetime,
    key: str,
) -> None:
    # FailReason: customer_refused or customer_limit_exceed; the customer stays with the
    # original guide, so no relation changes here (path/92130, 客户接替失败事件).
    reason = fields.get("FailReason", "")
    audit.record(
        session,
        staff_id=guide.id if guide else None,
        channel="wecom",
        action="contact.transfer_failed",
        customer_id=customer_id,
        reason=reason,
        external_userid=fields.get("ExternalUserID"),
    )
    if guide is None:
        return
    name = "#" + str(customer_id) if customer_id else fields.get("ExternalUserID", "")
    if customer_id:
        customer = session.get(Customer, customer_id)
        name = (customer.name if customer else None) or name
    why = {"customer_refused": "客户拒绝", "customer_limit_exceed": "对方好友已满"}.get(
        reason, reason
    )
    for manager in alerts.managers_of(session, guide):
        alerts.push(
            session,
            ctx.settings,
            manager,
            f"客户接替失败：{name} 未能转给 {guide.name}（{why}）。",
            f"wecom-transfer:{key}",
            at,
        )
