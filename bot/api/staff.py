"""Staff offboarding over the API: deactivate a member (admin scope).

Deactivation keeps every row the member wrote (orders credited, notes, tasks, audit); the
member is refused on every channel from then on. Customers and open tasks move with
``scrm staff handover`` (docs/security.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool

from bot.api.deps import AdminClient, DbDep
from bot.services import offboarding

router = APIRouter(prefix="/api/v1/staff", tags=["staff"])


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
