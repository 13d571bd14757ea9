"""Registrations: customers signing up for a campaign (REST, or an import with a
``campaign`` column). A registered customer is targeted by the campaign.

Registering is idempotent: the earliest registration time is kept, a second one changes
nothing. An identity nobody has yet creates the customer (a prospect), as any intake does.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.intake import refs
from bot.intake.batch import Pending
from bot.intake.rows import Identities, OptCode
from bot.kpi.allocation import refresh
from bot.kpi.campaigns import CampaignIndex
from bot.kpi.config import for_session
from bot.kpi.facts import CellDeltas, chunks
from bot.services import identity
from storage.base import utcnow
from storage.models import CampaignParticipant
from storage.upsert import upsert


class ParticipantIn(Identities):
    """One registration: the campaign's code (given by the URL on the REST route), the
    customer by any identity, and when they registered (default: now)."""

    campaign: OptCode = None
    name: OptCode = None
    registered_at: datetime | None = None

    @model_validator(mode="after")
    def _check(self) -> ParticipantIn:
        self.require_identity()
        return self


def key(row: ParticipantIn) -> str:
    pairs = row.identity_pairs()
    who = f"{pairs[0][0]}:{pairs[0][1]}" if pairs else f"customer_id:{row.customer_id}"
    return f"{row.campaign}/{who}"


def write_participants(session: Session, batch: list[Pending[ParticipantIn]]) -> None:
    campaign_ids = refs.campaigns(session, (p.row.campaign for p in batch))
    todo: list[Pending[ParticipantIn]] = []
    for p in batch:
        r, res = p.row, p.result
        if not r.campaign:
            res.reject("campaign", "name the campaign by its code")
        elif r.campaign not in campaign_ids:
            res.reject("campaign", refs.MISSING["campaign"].format(r.campaign))
        if r.customer_id and identity.canonical_id(session, r.customer_id) is None:
            res.reject("customer_id", f"customer {r.customer_id} does not exist")
        if not res.errors:
            todo.append(p)
    if not todo:
        return
    customers = identity.resolve(
        session,
        [identity.Claim(p.row.identity_pairs(), p.row.customer_id, p.row.name) for p in todo],
        reason="registration identities",
    ).ids
    now = utcnow()
    wanted: dict[tuple[int, int], datetime] = {}
    for p, cid in zip(todo, customers, strict=True):
        pair = (campaign_ids[p.row.campaign or ""], cid)
        at = p.row.registered_at or now
        wanted[pair] = min(at, wanted.get(pair, at))
    have: dict[tuple[int, int], datetime | None] = {}
    ids = sorted({cid for _, cid in wanted})
    for part in chunks(ids):
        q = select(
            CampaignParticipant.campaign_id,
            CampaignParticipant.customer_id,
            CampaignParticipant.registered_at,
        ).where(CampaignParticipant.customer_id.in_(part))
        have.update({(c, k): at for c, k, at in session.execute(q)})
    rows = []
    for pair, at in sorted(wanted.items()):
        before = have.get(pair)
        if pair in have and before is not None and before <= at:
            continue
        rows.append({"campaign_id": pair[0], "customer_id": pair[1], "registered_at": at})
    upsert(
        session,
        CampaignParticipant,
        [{**r, "targeted": True} for r in rows],
        ["campaign_id", "customer_id"],
        ["registered_at", "targeted"],
    )
    for p, cid in zip(todo, customers, strict=True):
        pair = (campaign_ids[p.row.campaign or ""], cid)
        p.result.id = cid
        if pair not in have:
            p.result.status = "created"
        else:  # already a buyer or a target (now registered too), or registered earlier
            before = have[pair]
            p.result.status = "updated" if before is None or wanted[pair] < before else "unchanged"
    deltas = CellDeltas()
    refresh(session, ids, for_session(session), CampaignIndex.load(session), deltas)
    deltas.flush(session)
