"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from bot.api.deps import DbDep, MetricsDep, SettingsDep
from storage.migrate import at_head

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is at the latest migration")
async def readyz(db: DbDep, response: Response) -> dict[str, str]:
    def check() -> dict[str, str]:
        try:
            db.ping()
        except SQLAlchemyError as exc:
            return {
                "status": "unavailable",
                "reason": f"database unreachable: {type(exc).__name__}",
            }
        if not at_head(db.engine, db.url):
            return {"status": "unavailable", "reason": "migrations pending; run 'scrm db upgrade'"}
        return {"status": "ready"}

    result = await run_in_threadpool(check)
    if result["status"] != "ready":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return result


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(m: MetricsDep, settings: SettingsDep, request: Request) -> Response:
    if settings.metrics_token is not None:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        want = settings.metrics_token.get_secret_value()
        if not secrets.compare_digest(given.encode(), want.encode()):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "metrics need 'Authorization: Bearer <SCRM_METRICS_TOKEN>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
