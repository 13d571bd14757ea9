"""Bring "touched" up to date from the follow-up log.

A guide reaches a customer by logging a follow-up or finishing a task (the ``done`` command
logs a follow-up as well). Those writes live in other modules and do not call back here, so
the KPI facts read the ``interactions`` log forward from a mark (its last id), the way a
consumer reads a queue, whenever orders land and before a report is made. Reading by id
range costs next to nothing when nothing is new.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.kpi.allocation import refresh
from bot.kpi.campaigns import CampaignIndex
from bot.kpi.config import for_session
from bot.kpi.facts import CellDeltas, chunks
from storage.models import CampaignAllocation, Interaction, KpiMark
from storage.upsert import insert_ignore

MARK = "interactions"
# Ids are handed out at insert and become visible at commit, so a follow-up committed late
# can land below the mark: every catch-up with news reads this many ids back as well.
LOOKBACK = 500


def catch_up(session: Session) -> None:
    insert_ignore(session, KpiMark, [{"name": MARK, "value": 0}], ["name"])
    mark = session.scalar(
        select(KpiMark.value).where(KpiMark.name == MARK).with_for_update(skip_locked=True)
    )
    if mark is None:
        return  # another transaction is catching up right now; it will fold these in
    top = int(session.scalar(select(func.max(Interaction.id))) or 0)
    if top <= mark:
        return
    reached = sorted(
        set(
            session.scalars(
                select(Interaction.customer_id).where(
                    Interaction.id > mark - LOOKBACK,
                    Interaction.id <= top,
                    Interaction.staff_id.is_not(None),
                )
            )
        )
    )
    a = CampaignAllocation
    stale = {
        cid
        for part in chunks(reached)
        for cid in session.scalars(
            select(a.customer_id).where(
                a.customer_id.in_(part), a.targeted.is_(True), a.touched.is_(False)
            )
        )
    }
    if stale:
        deltas = CellDeltas()
        refresh(session, stale, for_session(session), CampaignIndex.load(session), deltas)
        deltas.flush(session)
    session.execute(update(KpiMark).where(KpiMark.name == MARK).values(value=top))
