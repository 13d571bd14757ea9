"""The web playground: talk to the bot as any staff member and see the reply as WeCom and
Slack will show it, side by side.

Mounted by the app factory only when enabled (demo mode or ``SCRM_PLAYGROUND=true``): it
acts as anyone, so it must never be on in production by accident. It answers loopback
clients only, and its page says so in a banner (docs/security.md). The page and its assets
are served from ``static/`` next to this module, with no CDN (the demo runs offline).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select

from bot.api.deps import DbDep, SettingsDep
from bot.chat.dispatch import Dispatcher
from bot.chat.types import Channel, IncomingMessage, Reply
from bot.settings import Settings
from integrations.slack import render as slack
from integrations.wecom import render as wecom
from storage.db import Database
from storage.models import Staff, Store

STATIC = Path(__file__).parent / "static"
# The only files the asset route serves; anything else is a 404, never a path on disk.
ASSETS = {"playground.css": "text/css", "playground.js": "text/javascript"}
MAX_TEXT = 2000


class SendIn(BaseModel):
    staff: str | None = None
    text: str | None = None


class StaffOut(BaseModel):
    code: str
    name: str
    role: str
    store: str | None
    locale: str


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def loopback_only(request: Request) -> None:
    """The playground acts as anyone, admins included, with no login: local use only.

    Behind a reverse proxy, uvicorn's ``--proxy-headers`` puts the real client address here
    (from a trusted proxy), so remote users are refused too."""
    host = request.client.host if request.client else ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the playground answers only on this machine (loopback); open it from"
            " http://127.0.0.1 or turn it off with SCRM_PLAYGROUND=false",
        )


def build_router() -> APIRouter:
    router = APIRouter(
        prefix="/playground", tags=["playground"], dependencies=[Depends(loopback_only)]
    )

    @router.get("", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "playground.html").read_text(encoding="utf-8"))

    @router.get("/static/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no playground asset {name!r}")
        return FileResponse(STATIC / name, media_type=f"{media_type}; charset=utf-8")

    @router.get("/api/staff")
    async def staff(db: DbDep) -> list[StaffOut]:
        return await run_in_threadpool(staff_list, db)

    @router.post("/api/send")
    async def send(body: SendIn, db: DbDep, settings: SettingsDep) -> dict[str, Any]:
        code, text = _validate(body)
        reply = await run_in_threadpool(_ask, db, settings, code, text)
        return render_all(reply)

    return router


def _validate(body: SendIn) -> tuple[str, str]:
    code = (body.staff or "").strip()
    text = body.text or ""
    if not code:
        raise HTTPException(
            422,
            "choose who you are: 'staff' must be a staff code such as G01",
        )
    if not text.strip():
        raise HTTPException(
            422,
            "type a command in 'text', for example 帮助 or help",
        )
    if len(text) > MAX_TEXT:
        raise HTTPException(
            422,
            f"'text' is {len(text)} characters; send at most {MAX_TEXT}",
        )
    return code, text


def staff_list(db: Database) -> list[StaffOut]:
    with db.session() as s:
        rows = s.execute(
            select(Staff.code, Staff.name, Staff.role, Store.name, Staff.locale)
            .outerjoin(Store, Store.id == Staff.store_id)
            .where(Staff.active.is_(True))
            .order_by(Staff.role, Staff.code)
        )
        return [
            StaffOut(code=code, name=name, role=role, store=store, locale=locale)
            for code, name, role, store, locale in rows
        ]


def _ask(db: Database, settings: Settings, code: str, text: str) -> Reply:
    return Dispatcher(db, settings).handle(IncomingMessage(Channel.PLAYGROUND, code, text))


def render_all(reply: Reply) -> dict[str, Any]:
    """The neutral reply and both platforms' renderings, as JSON-ready data."""
    return {
        "reply": reply_json(reply),
        "wecom": [
            _image_json(p) if isinstance(p, wecom.OutgoingImage) else p
            for p in wecom.render(reply, task_id=f"playground-{uuid.uuid4().hex}")
        ],
        "slack": {
            "blocks": slack.blocks(reply),
            "text": slack.fallback_text(reply),
            "chart_alt": slack.chart_alt(reply),
        },
    }


def reply_json(reply: Reply) -> dict[str, Any]:
    data = asdict(replace(reply, chart=None))
    if reply.chart is not None:
        data["chart"] = {
            "alt": reply.chart.alt,
            "title": reply.chart.title,
            "png": _data_url(reply.chart.png),
        }
    return data


def _image_json(image: wecom.OutgoingImage) -> dict[str, Any]:
    # What the sender will post once the PNG is uploaded, plus the PNG to preview it with.
    return {
        "msgtype": "image",
        "image": {"media_id": None},
        "upload": {"alt": image.alt, "title": image.title, "png": _data_url(image.png)},
    }


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
