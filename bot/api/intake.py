"""Batch upserts: POST a JSON array of rows; each row is accepted or rejected on its own."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from bot.api.deps import DbDep, MetricsDep, SettingsDep, scope
from bot.intake import damage
from bot.intake.batch import STATUSES
from bot.intake.kinds import KINDS, ingest

router = APIRouter(prefix="/api/v1", tags=["intake"])
# Who may write what: the directory (stores, staff, campaigns) decides who can act as whom.
SCOPE = {
    "orders": "intake",
    "refunds": "intake",
    "customers": "intake",
    "participants": "intake",
    "stores": "admin",
    "staff": "admin",
    "campaigns": "admin",
}


class RowError(BaseModel):
    field: str
    reason: str


class FieldDiff(BaseModel):
    field: str
    stored: Any
    sent: Any


class RowOutcome(BaseModel):
    index: int
    status: str
    key: str | None = None
    id: int | None = None
    errors: list[RowError] = []
    differs: list[FieldDiff] = []
    merged: list[int] = []


class BatchOutcome(BaseModel):
    received: int
    accepted: int
    created: int
    updated: int
    merged: int
    unchanged: int
    conflict: int
    rejected: int
    results: list[RowOutcome]


async def _rows(request: Request, limit: int) -> list[Any]:
    body = await request.body()
    try:
        # NaN, Infinity, 1e999999 and huge integers are kept for their row to refuse.
        data = json.loads(body, **damage.JSON_HOOKS)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"the body is not valid JSON ({exc}); send a JSON array of rows",
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            'send a JSON array of rows (or {"rows": [...]})',
        )
    if len(data) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(data)} rows in one request; send at most {limit} per request",
        )
    return data


def _make_route(kind: str) -> None:
    spec = KINDS[kind]
    schema = spec.schema.model_json_schema()

    async def upsert(
        request: Request,
        settings: SettingsDep,
        db: DbDep,
        metrics: MetricsDep,
        on_conflict: Annotated[
            Literal["report", "update"],
            Query(
                description="An order or refund sent again with other contents: `report` it"
                " as a conflict and write nothing (default), or `update` the stored one and"
                " everything derived from it."
            ),
        ] = "report",
    ) -> dict[str, Any]:
        rows = await _rows(request, settings.intake_max_rows)

        def work() -> dict[str, Any]:
            with db.uow() as uow:
                result = ingest(
                    uow.session,
                    kind,
                    rows,
                    tz=settings.tz,
                    task_days=settings.task_attribution_days,
                    update=on_conflict == "update",
                )
                uow.commit()
            for name, count in result.summary().items():
                if name in STATUSES and count:
                    metrics.intake_rows.labels(kind, name).inc(count)
            return result.as_dict()

        return await run_in_threadpool(work)

    upsert.__name__ = f"upsert_{kind}"
    router.add_api_route(
        f"/{kind}",
        upsert,
        methods=["POST"],
        dependencies=[Depends(scope(SCOPE.get(kind, "admin")))],
        response_model=BatchOutcome,
        summary=f"Upsert a batch of {kind}",
        description=(spec.schema.__doc__ or "")
        + f"\n\nNeeds the `{SCOPE.get(kind, 'admin')}` scope. The body is a JSON array of {kind} rows (see the schema). The response has one"
        " result per row: its index, status (created, updated, merged, unchanged, conflict,"
        " rejected) and, for a rejected row, the field and reason. A rejected row writes"
        " nothing. `conflict`: the key was stored with other contents (`differs` lists the"
        " fields); nothing is written unless `?on_conflict=update`. `merged`: the row showed"
        " two stored customers to be one person (`merged` lists the ids folded in).",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "array", "items": schema}}},
            }
        },
    )


for _kind in KINDS:
    _make_route(_kind)
