"""Customers, staff, stores and campaigns: upserts keyed by identity or code."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.intake import merges, refs
from bot.intake.batch import Pending, RowResult
from bot.intake.rows import CampaignIn, CustomerIn, StaffIn, StoreIn
from bot.kpi import hooks as kpi
from bot.services import audit, identity
from bot.services.names import name_fields
from storage.models import (
    Campaign,
    CampaignCoupon,
    CampaignStore,
    Customer,
    GuideRelation,
    Staff,
    Store,
    Tag,
    TagGroup,
)
from storage.upsert import insert_ignore


def _apply(obj: Any, values: dict[str, Any], result: RowResult, created: bool) -> None:
    """Set the given (non-None) values; the row is 'updated' only if something changed."""
    changed = False
    for name, value in values.items():
        if value is not None and getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    if created:
        result.status = "created"
    else:
        result.status = "updated" if changed else "unchanged"


def write_stores(session: Session, batch: list[Pending[StoreIn]]) -> None:
    have = {
        s.code: s
        for s in session.scalars(select(Store).where(Store.code.in_([p.row.code for p in batch])))
    }
    for p in batch:
        store = have.get(p.row.code)
        created = store is None
        if store is None:
            store = Store(code=p.row.code, name=p.row.name)
            session.add(store)
        _apply(store, p.row.model_dump(exclude={"code"}), p.result, created)
        session.flush()
        p.result.id = store.id


AUDITED = ("role", "wecom_userid", "slack_user_id", "active")


def write_staff(session: Session, batch: list[Pending[StaffIn]]) -> None:
    store_ids = refs.stores(session, (p.row.store for p in batch))
    for p in batch:
        r = p.row
        if r.store and r.store not in store_ids:
            p.result.reject("store", refs.MISSING["store"].format(r.store))
            continue
        member = session.scalar(select(Staff).where(Staff.code == r.code))
        for col in ("wecom_userid", "slack_user_id"):
            value = getattr(r, col)
            if value:
                other = session.scalar(select(Staff.code).where(getattr(Staff, col) == value))
                if other and other != r.code:
                    p.result.reject(col, f"{value!r} already belongs to staff {other!r}")
        if p.result.errors:
            continue
        created = member is None
        if member is None:
            member = Staff(code=r.code, name=r.name)
            session.add(member)
        values = r.model_dump(exclude={"code", "store"})
        values["store_id"] = store_ids.get(r.store or "")
        before = {c: getattr(member, c) for c in AUDITED}
        _apply(member, values, p.result, created)
        session.flush()
        p.result.id = member.id
        # Who may act as whom: role and chat-id changes are audited (docs/security.md).
        changes = {
            c: [before[c], getattr(member, c)] for c in AUDITED if before[c] != getattr(member, c)
        }
        if changes and not created:  # a new member is its own record (created_at)
            audit.record(
                session,
                staff_id=member.id,
                channel="intake",
                action="staff_change",
                changes=changes,
            )


def write_customers(session: Session, batch: list[Pending[CustomerIn]]) -> None:
    store_ids = refs.stores(session, (p.row.store for p in batch))
    staff_ids = refs.staff(session, (p.row.guide for p in batch))
    todo = []
    for p in batch:
        r = p.row
        if r.store and r.store not in store_ids:
            p.result.reject("store", refs.MISSING["store"].format(r.store))
        if r.guide and r.guide not in staff_ids:
            p.result.reject("guide", refs.MISSING["guide"].format(r.guide))
        if r.customer_id and identity.canonical_id(session, r.customer_id) is None:
            p.result.reject("customer_id", f"customer {r.customer_id} does not exist")
        if not p.result.errors:
            todo.append(p)
    if not todo:
        return
    claims = [
        identity.Claim(
            p.row.identity_pairs(),
            p.row.customer_id,
            p.row.name,
            # New customers are born with these, so the update below is a no-op for them.
            extra={
                k: v
                for k, v in (
                    ("gender", p.row.gender),
                    ("birthday", p.row.birthday),
                    ("store_id", store_ids.get(p.row.store or "")),
                    ("guide_id", staff_ids.get(p.row.guide or "")),
                )
                if v is not None
            },
        )
        for p in todo
    ]
    named = merges.named_before(session, claims)
    resolved = identity.resolve(session, claims, reason="customer identities")
    merges.report([p.result for p in todo], named, resolved.ids)
    loaded: dict[int, Customer] = {}
    ids = sorted(set(resolved.ids))
    for start in range(0, len(ids), 900):
        loaded.update(
            (c.id, c)
            for c in session.scalars(
                select(Customer).where(Customer.id.in_(ids[start : start + 900]))
            )
        )
    relations = []
    for p, cid in zip(todo, resolved.ids, strict=True):
        r = p.row
        customer = loaded[cid]
        values: dict[str, Any] = {
            "gender": r.gender,
            "birthday": r.birthday,
            "store_id": store_ids.get(r.store or ""),
            "guide_id": staff_ids.get(r.guide or ""),
        }
        if r.name and r.name != customer.name:
            values.update(name_fields(r.name))
        if r.phone:
            values.update(phone=r.phone, phone_last4=r.phone[-4:])
        _apply(customer, values, p.result, cid in resolved.created)
        if p.result.merged:
            p.result.status = "merged"
        p.result.id = cid
        p.result.key = p.result.key or str(cid)
        if r.guide:
            relations.append(
                {
                    "customer_id": cid,
                    "staff_id": staff_ids[r.guide],
                    "remark": r.remark,
                    "added_by": "import",
                }
            )
    insert_ignore(session, GuideRelation, relations, ["customer_id", "staff_id"])
    session.flush()


def write_campaigns(session: Session, batch: list[Pending[CampaignIn]]) -> None:
    store_ids = refs.stores(session, (s for p in batch for s in p.row.stores))
    changed: list[int] = []
    for p in batch:
        r = p.row
        for code in r.stores:
            if code not in store_ids:
                p.result.reject("stores", refs.MISSING["store"].format(code))
        previous_id = None
        if r.previous:
            previous_id = session.scalar(select(Campaign.id).where(Campaign.code == r.previous))
            if previous_id is None:
                p.result.reject("previous", refs.MISSING["campaign"].format(r.previous))
        tag_id = None
        if r.target_tag:
            group, _, name = r.target_tag.rpartition(":")
            q = select(Tag.id).join(TagGroup).where(Tag.name == name)
            if group:
                q = q.where(TagGroup.name == group)
            tag_id = session.scalars(q).first()
            if tag_id is None:
                p.result.reject("target_tag", f"unknown tag {r.target_tag!r}; create it first")
        campaign = session.scalar(select(Campaign).where(Campaign.code == r.code))
        coupons = r.coupon_list()
        for c in coupons:
            owner = session.scalar(
                select(Campaign.code).join(CampaignCoupon).where(CampaignCoupon.code == c.code)
            )
            if owner and owner != r.code:
                p.result.reject(
                    "coupons", f"coupon {c.code!r} already belongs to campaign {owner!r}"
                )
        if p.result.errors:
            continue
        created = campaign is None
        if campaign is None:
            campaign = Campaign(code=r.code, name=r.name, starts_at=r.starts_at, ends_at=r.ends_at)
            session.add(campaign)
        values = r.model_dump(
            include={"name", "starts_at", "ends_at", "fixed_cost_cents", "target_stage"}
        )
        values.update(target_tag_id=tag_id, previous_campaign_id=previous_id)
        _apply(campaign, values, p.result, created)
        session.flush()
        wanted_stores = {store_ids[c] for c in r.stores}
        have_stores = set(
            session.scalars(
                select(CampaignStore.store_id).where(CampaignStore.campaign_id == campaign.id)
            )
        )
        if r.stores and wanted_stores != have_stores:
            session.execute(delete(CampaignStore).where(CampaignStore.campaign_id == campaign.id))
            session.add_all(
                CampaignStore(campaign_id=campaign.id, store_id=s) for s in wanted_stores
            )
            if not created:
                p.result.status = "updated"
        for c in coupons:
            coupon = session.get(CampaignCoupon, c.code)
            if coupon is None:
                session.add(
                    CampaignCoupon(
                        code=c.code, campaign_id=campaign.id, value_cents=c.value_cents or 0
                    )
                )
                if not created:
                    p.result.status = "updated"
        session.flush()
        p.result.id = campaign.id
        if p.result.status != "unchanged":
            changed.append(campaign.id)
    kpi.campaigns_changed(session, changed)  # re-credit the orders they may win or lose
