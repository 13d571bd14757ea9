"""The FastAPI app factory. Everything is built here from settings; nothing at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import redact
from bot.api import campaigns, customers, docs, health, intake, staff
from bot.metrics import Metrics
from bot.outbox import OutboxWorker, Sender
from bot.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        if declared is not None:
            await self.app(scope, receive, send)  # the server holds the body to its length
            return
        # A chunked body has no length to check up front: read it here, up to the cap, and
        # hand it on. Refusing from inside the app instead would surface as a 500, because
        # an exception raised while receiving escapes the middleware stack.
        buffered: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            buffered.append(message)
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await self._refuse(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over {self.limit} bytes; send smaller batches"},
            status_code=413,
        )
        await response(scope, receive, send)


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    redact.install()
    if settings.bare_tokens:
        log.warning(
            "%d API token(s) in SCRM_API_TOKENS carry no scope and act as intake+read; add the"
            " scopes each may use, as <token>:intake+read, <token>:read or <token>:admin",
            settings.bare_tokens,
        )
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_db = db is None
        app.state.db = db or Database(settings.database_url)
        pump = None
        if app.state.senders and settings.outbox_worker:
            worker = OutboxWorker(
                app.state.db,
                app.state.senders,
                on_event=lambda channel, outcome: metrics.pushes.labels(channel, outcome).inc(),
            )
            pump = asyncio.create_task(_pump(worker))
        scheduler = None
        if settings.scheduler:
            from bot.scheduler.runtime import Runtime
            from bot.scheduler.service import SchedulerService, runner_name

            scheduler = SchedulerService(
                Runtime(
                    app.state.db,
                    settings,
                    runner_name(),
                    metrics,
                    dict(app.state.senders),
                    app.state.hooks,
                )
            )
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await run_in_threadpool(scheduler.stop)
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
            if owns_db:
                app.state.db.dispose()

    app = FastAPI(
        title="scrm-assistant",
        version="0.1.0",
        summary="Chat-ops SCRM: WeCom/WeChat and Slack on one customer store",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served by bot.api.docs from local assets
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    app.add_exception_handler(RecursionError, _too_deep)
    app.state.settings = settings
    app.state.metrics = metrics
    if db is not None:
        app.state.db = db

    @app.middleware("http")
    async def observe(request: Request, call_next):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(request.method, template, str(response.status_code)).inc()
        metrics.http_latency.labels(template).observe(time.perf_counter() - start)
        return response

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.api_docs:
        docs.mount(app)
    app.include_router(health.router)
    app.include_router(intake.router)
    app.include_router(customers.router)
    app.include_router(campaigns.router)
    app.include_router(staff.router)
    # The app factory is the composition root: it is the one place in bot/ that reaches into
    # integrations/, to mount each enabled channel's routes.
    if settings.playground_enabled:
        log.warning(
            "the playground is on (%s): it acts as any staff member with no login and answers"
            " loopback clients only",
            "demo mode" if settings.playground is None else "SCRM_PLAYGROUND=true",
        )
        from integrations.console.playground import build_router

        app.include_router(build_router())
    # Each enabled channel mounts its routes and hands back the sender its pushes go through.
    senders: dict[str, Sender] = {}
    app.state.hooks = {}  # channel features the scheduler calls ("send_digest", "wecom_reconcile")
    if settings.wecom_enabled:
        from integrations.wecom.wiring import mount as mount_wecom

        senders["wecom"] = mount_wecom(app, settings)
    if settings.wechat_enabled:
        from integrations.wechat.wiring import mount as mount_wechat

        senders["wechat"] = mount_wechat(app, settings)
    if settings.slack_enabled:
        from integrations.slack.wiring import mount as mount_slack

        senders["slack"] = mount_slack(app, settings)
        from integrations.slack.digest import send_digest

        app.state.hooks["send_digest"] = send_digest
    app.state.senders = senders
    return app


async def _too_deep(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"detail": "the JSON body is nested too deeply; send flat rows (a list of objects)"},
        status_code=400,
    )


async def _pump(worker: OutboxWorker) -> None:
    """Send due pushes until cancelled; the synchronous worker runs in the thread pool."""
    while True:
        try:
            sent = await run_in_threadpool(worker.run_once)
        except Exception:
            log.exception("outbox pump failed; retrying in 5 s")
            await asyncio.sleep(5)
            continue
        await asyncio.sleep(0 if sent else 0.5)
