"""Campaign KPIs as JSON or CSV, and registrations into a campaign.

``GET /api/v1/campaigns/{code}/kpis`` answers with the same figures as the chat ``kpi``
command (both go through ``bot.kpi.service``); ``?format=csv`` or ``Accept: text/csv`` gives
the KPI table as CSV, ``&breakdown=store|guide`` the breakdown instead.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from bot.api.deps import DbDep, IntakeClient, ReadClient, SettingsDep
from bot.api.intake import BatchOutcome
from bot.intake.batch import run_batch
from bot.kpi import config as kpi_config
from bot.kpi import engine, participants, service, view
from storage.base import utcnow
from storage.models import Campaign

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])


async def _rows(request: Request, limit: int) -> list[Any]:
    try:
        data = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the body is not valid JSON ({exc}); send a JSON array of customers",
        ) from exc
    if not isinstance(data, list):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            'send a JSON array of customers, e.g. [{"phone": "13812345678"}]',
        )
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(data)} rows in one request; send at most {limit} per request",
        )
    return data


@router.post(
    "/{code}/participants",
    response_model=BatchOutcome,
    summary="Register customers into a campaign",
    description="A JSON array of customers, each named by customer_id, phone, member_no, "
    "unionid, wecom_external_userid or wechat_openid, with an optional registered_at "
    "(default now) and name. A new identity creates the customer. One result per row, as "
    "for the intake batches; registering twice changes nothing.",
)
async def register(
    code: str, request: Request, _client: IntakeClient, settings: SettingsDep, db: DbDep
) -> dict[str, Any]:
    rows = await _rows(request, settings.intake_max_rows)

    def work() -> dict[str, Any]:
        with db.uow() as uow:
            if uow.session.scalar(select(Campaign.id).where(Campaign.code == code)) is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign {code!r}")
            kpi_config.bind(uow.session, kpi_config.from_settings(settings))
            named = [{**r, "campaign": code} if isinstance(r, dict) else r for r in rows]
            result = run_batch(
                uow.session,
                participants.ParticipantIn,
                named,
                participants.write_participants,
                tz=settings.tz,
                key=participants.key,
            )
            uow.commit()
        return result.as_dict()

    return await run_in_threadpool(work)


@router.get(
    "/{code}/kpis",
    summary="Campaign KPIs with their definitions and changes",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def kpis(
    code: str,
    request: Request,
    _client: ReadClient,
    settings: SettingsDep,
    db: DbDep,
    store: Annotated[str | None, Query(description="store code or name")] = None,
    guide: Annotated[str | None, Query(description="staff code or name")] = None,
    period: Annotated[
        str | None, Query(description="yesterday, 7d, wtd, mtd or 2026-11-01..2026-11-11")
    ] = None,
    vs: Annotated[str | None, Query(description="compare with this campaign")] = None,
    format: Literal["json", "csv"] | None = None,
    breakdown: Literal["store", "guide"] | None = None,
    lang: Literal["zh", "en"] = "en",
) -> Any:
    as_csv = format == "csv" or (format is None and "text/csv" in request.headers.get("accept", ""))
    cfg = kpi_config.from_settings(settings)
    today = utcnow().astimezone(settings.tz).date()

    def work() -> Any:
        with db.uow() as uow:  # a report first folds in new follow-ups ("touched")
            session = uow.session
            try:
                report = service.run(
                    session,
                    service.KpiRequest(code, vs, store, guide, period),
                    today=today,
                    config=cfg,
                    roi_definition=settings.roi_definition,
                    visible=None,
                )
            except service.Refused as exc:
                code_ = status.HTTP_404_NOT_FOUND if exc.missing else 422
                raise HTTPException(code_, exc.en) from exc
            other: engine.Dim = "guide" if report.dim == "store" else "store"
            side = engine.read_side(
                session,
                report.campaign,
                report.current.days,
                report.filters,
                other,
                cfg,
                settings.roi_definition,
            )
            names = {
                report.dim: report.names,
                other: service.group_names(session, other, sorted(side.groups)),
            }
            groups = {report.dim: report.current, other: side}
            tables = {
                f"by_{d}": view.group_rows(groups[d], names[d], d) for d in ("store", "guide")
            }
            uow.commit()
        if as_csv:
            rows = (
                tables[f"by_{breakdown}"]
                if breakdown
                else view.kpi_rows(report, settings.roi_definition, lang)
            )
            name = f"{report.campaign.code}-{breakdown or 'kpis'}.csv"
            return Response(
                view.as_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": view.attachment(name)},
            )
        return view.as_json(report, settings.roi_definition, lang, cfg, tables)

    return await run_in_threadpool(work)
