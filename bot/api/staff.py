"""Staff offboarding over the API (admin scope): deactivate, hand over.

Deactivation keeps every row the member wrote (orders credited, notes, tasks, audit); the
member is refused on every channel from then on. A handover moves customers and open tasks,
as ``scrm staff handover`` does (docs/security.md).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from bot.api.deps import AdminClient, DbDep
from bot.services import offboarding

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])


class HandoverIn(BaseModel):
    to: str = Field(min_length=1, max_length=64, description="Staff code taking over")
    customers: Literal["all"] | list[int] = "all"


@router.post("/{code}/deactivate", summary="Deactivate a staff member (history is kept)")
async def deactivate(code: str, _client: AdminClient, db: DbDep) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        with db.uow() as uow:
            try:
                outcome = offboarding.deactivate(uow.session, code, channel="api")
            except offboarding.Refused as exc:
                raise HTTPException(status.HTTP_404_NOT_FOUND, exc.en) from exc
            uow.commit()
        return outcome

    return await run_in_threadpool(work)


@router.post(
    "/{code}/handover",
    summary="Move a member's customers and open tasks to another (WeCom contacts via WeCom)",
)
async def handover(code: str, body: HandoverIn, _client: AdminClient, db: DbDep) -> dict[str, Any]:
    def work() -> dict[str, Any]:
        ids = None if body.customers == "all" else list(body.customers)
        with db.uow() as uow:
            try:
                out = offboarding.handover(uow.session, code, body.to, ids, channel="api")
            except offboarding.Refused as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, exc.en) from exc
            uow.commit()
        return {"moved": out.moved, "tasks": out.tasks, "wecom_transfer": out.wecom}

    return await run_in_threadpool(work)
