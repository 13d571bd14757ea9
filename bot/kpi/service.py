"""One KPI request, from words (a campaign code, ``store:``, ``guide:``, ``period:``, ``vs``)
to a report. The chat command and the REST route both go through here, so they answer with
the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.kpi import engine, periods, touches
from bot.kpi.campaigns import CampaignIndex, CampaignInfo
from bot.kpi.config import KpiConfig
from storage.models import Staff, Store


class Refused(Exception):
    """The request names something that does not exist or may not be seen."""

    def __init__(self, zh: str, en: str, *, missing: bool = True) -> None:
        super().__init__(en)
        self.zh, self.en, self.missing = zh, en, missing


@dataclass(frozen=True)
class KpiRequest:
    campaign: str
    vs: str | None = None
    store: str | None = None
    guide: str | None = None
    period: str | None = None


def find_campaign(campaigns: CampaignIndex, query: str) -> CampaignInfo | None:
    """By code (any case); else the latest campaign whose code or name contains the words."""
    q = query.strip().lower()
    for c in campaigns:
        if c.code.lower() == q:
            return c
    hits = [c for c in campaigns if q in c.code.lower() or q in c.name.lower()]
    return max(hits, key=lambda c: (c.starts_at, c.id)) if hits else None


def _campaign(campaigns: CampaignIndex, query: str) -> CampaignInfo:
    found = find_campaign(campaigns, query)
    if found is None:
        raise Refused(
            f"没有找到活动“{query}”。发“活动列表”看有哪些活动。",
            f"No campaign '{query}'. Send 'campaigns' to list them.",
        )
    return found


def _store(session: Session, query: str, visible: frozenset[int] | None) -> tuple[int, str]:
    q = query.strip()
    rows = session.execute(
        select(Store.id, Store.name, Store.code).where(
            or_(Store.code == q, Store.name == q, Store.name.contains(q))
        )
    ).all()
    exact = [r for r in rows if q in (r.code, r.name)]
    hits = exact or rows
    if len(hits) != 1:
        raise Refused(
            f"没有找到唯一的门店“{q}”，请写门店编号。",
            f"No single store matches '{q}'; give its code.",
        )
    if visible is not None and hits[0].id not in visible:
        raise Refused(
            f"你只能查看自己门店的数据，“{hits[0].name}”不在其中。",
            f"You can only see your own stores; {hits[0].name} is not one of them.",
            missing=False,
        )
    return hits[0].id, hits[0].name


def _guide(session: Session, query: str) -> tuple[int, str]:
    q = query.strip()
    rows = session.execute(
        select(Staff.id, Staff.name, Staff.code).where(or_(Staff.code == q, Staff.name == q))
    ).all()
    if len(rows) != 1:
        raise Refused(
            f"没有找到唯一的导购“{q}”，请写工号。",
            f"No single guide matches '{q}'; give their code.",
        )
    return rows[0].id, rows[0].name


def group_names(session: Session, dim: engine.Dim, ids: list[int]) -> dict[int, str]:
    model = Store if dim == "store" else Staff
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    rows = session.execute(select(model.id, model.name).where(model.id.in_(wanted)))
    return {int(i): str(n) for i, n in rows}


def run(
    session: Session,
    req: KpiRequest,
    *,
    today: date,
    config: KpiConfig,
    roi_definition: str,
    visible: frozenset[int] | None,
    dim: engine.Dim | None = None,
) -> engine.Report:
    """``visible``: the stores the asker may see (None: all). ``dim``: the breakdown; by
    default by guide within one store, by store otherwise. Writes (the "touched" catch-up):
    run it in a unit of work and commit."""
    touches.catch_up(session)
    campaigns = CampaignIndex.load(session)
    campaign = _campaign(campaigns, req.campaign)
    vs = _campaign(campaigns, req.vs) if req.vs else None
    store = _store(session, req.store, visible) if req.store else None
    guide = _guide(session, req.guide) if req.guide else None
    store_id = store[0] if store else None
    guide_id = guide[0] if guide else None
    try:
        period = periods.parse(req.period, today) if req.period else None
    except periods.PeriodError as exc:
        raise Refused(exc.zh, exc.en, missing=False) from exc
    dim = dim or ("guide" if store_id is not None else "store")
    report = engine.build(
        session,
        campaign,
        campaigns=campaigns,
        today=today,
        config=config,
        roi_definition=roi_definition,
        filters=engine.Filters(visible, store_id, guide_id),
        period=period,
        vs=vs,
        dim=dim,
    )
    report.names = group_names(session, dim, sorted(report.current.groups))
    report.scope = [named[1] for named in (store, guide) if named]
    return report
