"""Who a campaign targets: its registered customers, and customers matching its target tag
and/or lifecycle stage.

A campaign's target list is taken when the campaign is created or changed (``sync``), and a
customer who matches later joins it when they order during the window (``join``), since
tagging and the lifecycle recompute happen elsewhere and do not call back here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.kpi.campaigns import CampaignIndex, CampaignInfo
from bot.kpi.facts import chunks
from storage.models import CampaignParticipant, Customer, CustomerStats, CustomerTag
from storage.upsert import upsert


def matching(
    session: Session, campaign: CampaignInfo, customer_ids: Iterable[int] | None = None
) -> set[int]:
    """Customers with the target tag and in the target stage (both, when both are set)."""
    if not campaign.has_target:
        return set()
    q = select(Customer.id).where(Customer.merged_into.is_(None))
    if campaign.target_tag_id is not None:
        q = q.join(CustomerTag, CustomerTag.customer_id == Customer.id).where(
            CustomerTag.tag_id == campaign.target_tag_id
        )
    if campaign.target_stage is not None:
        q = q.join(CustomerStats, CustomerStats.customer_id == Customer.id).where(
            CustomerStats.stage == campaign.target_stage
        )
    if customer_ids is None:
        return set(session.scalars(q))
    ids = sorted(set(customer_ids))
    return {cid for part in chunks(ids) for cid in session.scalars(q.where(Customer.id.in_(part)))}


def _mark(session: Session, campaign_id: int, customer_ids: Iterable[int]) -> None:
    rows = [{"campaign_id": campaign_id, "customer_id": c, "targeted": True} for c in customer_ids]
    upsert(
        session,
        CampaignParticipant,
        sorted(rows, key=lambda r: r["customer_id"]),
        ["campaign_id", "customer_id"],
        ["targeted"],
    )


def _targeted(session: Session, campaign_id: int) -> dict[int, bool]:
    """Targeted participants: customer -> registered."""
    q = select(CampaignParticipant.customer_id, CampaignParticipant.registered_at).where(
        CampaignParticipant.campaign_id == campaign_id, CampaignParticipant.targeted.is_(True)
    )
    return {cid: at is not None for cid, at in session.execute(q)}


def sync(session: Session, campaign: CampaignInfo) -> set[int]:
    """Bring the target list up to date; returns the customers whose targeting changed."""
    wanted = matching(session, campaign)
    have = _targeted(session, campaign.id)
    gained = wanted - set(have)
    lost = sorted(c for c, registered in have.items() if not registered and c not in wanted)
    _mark(session, campaign.id, gained)
    for part in chunks(lost):
        session.execute(
            update(CampaignParticipant)
            .where(
                CampaignParticipant.campaign_id == campaign.id,
                CampaignParticipant.customer_id.in_(part),
            )
            .values(targeted=False)
        )
    return gained | set(lost)


def join(session: Session, campaigns: CampaignIndex, orders: Sequence[Any]) -> set[int]:
    """Customers ordering during a targeted campaign who match its target now join it."""
    joined: set[int] = set()
    for campaign in campaigns:
        if not campaign.has_target:
            continue
        buyers = {
            o.customer_id
            for o in orders
            if campaign.covers(o.ordered_at) and campaign.in_scope(o.store_id)
        }
        if not buyers:
            continue
        have = set(_targeted_among(session, campaign.id, buyers))
        new = matching(session, campaign, buyers - have)
        _mark(session, campaign.id, new)
        joined |= new
    return joined


def _targeted_among(session: Session, campaign_id: int, customer_ids: set[int]) -> list[int]:
    ids = sorted(customer_ids)
    return [
        cid
        for part in chunks(ids)
        for cid in session.scalars(
            select(CampaignParticipant.customer_id).where(
                CampaignParticipant.campaign_id == campaign_id,
                CampaignParticipant.customer_id.in_(part),
                CampaignParticipant.targeted.is_(True),
            )
        )
    ]
