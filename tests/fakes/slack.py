"""A fake Slack Web API on an ephemeral port: a real HTTP server thread the real SDK talks to.

It records every call (method, parsed arguments, headers), answers the methods the app
uses, serves ``response_url`` webhooks and the ``files.getUploadURLExternal`` upload URL,
and can be told to answer 429 with ``Retry-After`` or a Slack error for a method, or to
drop the connection after doing the work (the answer is lost on the way back).
Tests assert on the calls that reached it; nothing in the SDK is patched.

Posted messages are kept per conversation (a post to a user id lands in the DM "D…", the id
conversations.open answers), with their metadata, and ``conversations.history`` reads them
back newest first, as Slack does. Their ``ts`` is the current time, unique and increasing.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

BOT_TOKEN = "xoxb-test-token"
BOT_USER = "UBOT0001"


@dataclass
class Call:
    method: str  # "chat.postMessage", "response" (a response_url post), "upload"
    args: dict[str, Any]
    headers: dict[str, str]
    path: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class FakeSlack:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel id -> {"is_member": bool, "is_private": bool, "name": str}
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # conversation id -> messages posted there, oldest first
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _rate_limits: dict[str, list[int]] = field(default_factory=dict)
    _errors: dict[str, list[str]] = field(default_factory=dict)
    _drops: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _last_us: int = 0  # the last message ts, in microseconds
    _server: ThreadingHTTPServer | None = None

    # -- control -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:  # the SDK reads users.info and a few others by GET
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def root(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def api_base(self) -> str:
        return self.root + "api/"

    def response_url(self, name: str = "r1") -> str:
        return self.root + f"response/{name}"

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with 429 and ``Retry-After``."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with ``{"ok": false, "error": …}``."""
        self._errors.setdefault(method, []).extend([error] * times)

    def drop(self, method: str, times: int = 1) -> None:
        """Do the next ``times`` calls to ``method``, then close the connection unanswered."""
        self._drops[method] = self._drops.get(method, 0) + times

    def add_user(self, user_id: str, email: str | None = None, **extra: Any) -> None:
        """A member of the app's workspace unless ``extra`` says otherwise (team_id, is_bot,
        deleted, is_restricted, is_ultra_restricted, is_email_confirmed), as users.info has it."""
        profile = {"email": email} if email else {}
        self.users[user_id] = {
            "id": user_id,
            "team_id": "T0001",
            "name": user_id.lower(),
            "deleted": False,
            "is_bot": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_email_confirmed": True,
            "profile": profile,
            **extra,
        }

    def to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """The calls to ``method`` once there are at least ``count`` (background work)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.to(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} call(s) to {method}, got {self.to(method)}")

    # -- HTTP ----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length)
        headers = {k.lower(): v for k, v in h.headers.items()}
        if h.path.startswith("/upload/"):
            self._record(Call("upload", {"bytes": len(raw)}, headers, h.path))
            self._reply(h, 200, b"OK", "text/plain")
            return
        if h.path.startswith("/response/"):
            self._record(Call("response", json.loads(raw or b"{}"), headers, h.path))
            self._reply(h, 200, b"ok", "text/plain")
            return
        if not h.path.startswith("/api/"):
            self._reply(h, 404, b"not found", "text/plain")
            return
        method, _, query = h.path.removeprefix("/api/").partition("?")
        args = _parse(raw, headers.get("content-type", "")) | dict(parse_qsl(query))
        self._record(Call(method, args, headers, h.path))
        with self._lock:
            limited = self._rate_limits.get(method)
            retry_after = limited.pop(0) if limited else None
            errors = self._errors.get(method)
            error = errors.pop(0) if errors else None
        if retry_after is not None:
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            self._reply(h, 429, body, "application/json", {"Retry-After": str(retry_after)})
            return
        if headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            out: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        elif error is not None:
            out = {"ok": False, "error": error}
        else:
            out = self._answer(method, args)
        with self._lock:
            dropped = self._drops.get(method, 0) > 0
            if dropped:
                self._drops[method] -= 1
        if dropped:
            h.close_connection = True  # the client sees the server hang up
            return
        self._reply(h, 200, json.dumps(out).encode(), "application/json")

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        content_type: str,
        extra: dict[str, str] | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _answer(self, method: str, a: dict[str, Any]) -> dict[str, Any]:
        ok: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            return ok | {"user_id": BOT_USER, "bot_id": "B0001", "team_id": "T0001", "team": "t"}
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            channel = str(a.get("channel", ""))
            known = self.channels.get(channel)
            if known is not None and not known.get("is_member", True):
                return {"ok": False, "error": "not_in_channel"}
            if channel.startswith(("U", "W")):  # a user id posts into the app's DM with them
                channel = _dm(channel)
            ts = a.get("ts") or self._next_ts()
            if method == "chat.postMessage":
                self._store(channel, ts, a)
            return ok | {"channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "users.info":
            user = self.users.get(str(a.get("user")))
            return ok | {"user": user} if user else {"ok": False, "error": "user_not_found"}
        if method in ("views.publish", "views.open", "views.update"):
            return ok | {"view": {"id": f"V{next(self._ts):04d}"}}
        if method == "conversations.open":
            return ok | {"channel": {"id": _dm(str(a.get("users", "X")))}}
        if method == "conversations.history":
            return self._history(a)
        if method == "conversations.info":
            info = self.channels.get(str(a.get("channel")))
            if info is None:
                return {"ok": False, "error": "channel_not_found"}
            return ok | {"channel": {"id": a.get("channel"), **info}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):05d}"
            return ok | {"upload_url": self.root + f"upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            known = self.channels.get(str(a.get("channel_id")))
            if known is not None and not known.get("is_member", True):
                return {"ok": False, "error": "not_in_channel"}
            files = json.loads(a.get("files", "[]"))
            return ok | {"files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        # Slack's ts is the post's Unix time with microseconds, unique in a channel.
        with self._lock:
            self._last_us = max(time.time_ns() // 1000, self._last_us + 1)
            return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _store(self, channel: str, ts: str, a: dict[str, Any]) -> None:
        message: dict[str, Any] = {
            "type": "message",
            "ts": ts,
            "user": BOT_USER,
            "bot_id": "B0001",
            "text": a.get("text", ""),
        }
        if a.get("blocks"):
            blocks = a["blocks"]
            message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
        if a.get("metadata"):
            metadata = a["metadata"]  # a dict in a JSON body, a JSON string in a form body
            message["metadata"] = json.loads(metadata) if isinstance(metadata, str) else metadata
        with self._lock:
            self.messages.setdefault(channel, []).append(message)

    def _history(self, a: dict[str, Any]) -> dict[str, Any]:
        channel = str(a.get("channel", ""))
        known = self.channels.get(channel)
        if known is not None and not known.get("is_member", True):
            return {"ok": False, "error": "not_in_channel"}  # a bot reads only where it is
        oldest = float(a.get("oldest") or 0)
        latest = float(a["latest"]) if a.get("latest") else None
        inclusive = _true(a.get("inclusive"))  # oldest and latest are excluded by default

        def within(ts: float) -> bool:
            if ts < oldest or (ts == oldest and not inclusive):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        with self._lock:
            found = [m for m in reversed(self.messages.get(channel, [])) if within(float(m["ts"]))]
        start = int(str(a.get("cursor") or "offset:0").removeprefix("offset:"))
        limit = min(int(a.get("limit") or 100), 999)
        page = found[start : start + limit]
        if not _true(a.get("include_all_metadata")):
            page = [{k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(found)
        return {
            "ok": True,
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": f"offset:{start + limit}" if more else ""},
        }


def _dm(user: str) -> str:
    return "D" + user[1:]


def _true(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _parse(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        loaded: dict[str, Any] = json.loads(raw)
        return loaded
    return dict(parse_qsl(raw.decode()))


# -- signed requests to /slack/events ----------------------------------------------------

SIGNING_SECRET = "test-signing-secret-0001"


def signed_headers(
    body: str, content_type: str, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack would send: X-Slack-Signature over ``v0:{timestamp}:{body}``."""
    from slack_sdk.signature import SignatureVerifier

    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None  # None only without a timestamp or a body
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def command_body(slash: str, text: str, user: str, response_url: str, **extra: str) -> str:
    from urllib.parse import urlencode

    fields = {
        "token": "legacy",
        "team_id": "T0001",
        "channel_id": extra.pop("channel_id", "C0GENERAL"),
        "user_id": user,
        "command": slash,
        "text": text,
        "response_url": response_url,
        "trigger_id": extra.pop("trigger_id", "1337.42.abcd"),
        **extra,
    }
    return urlencode(fields)


def interaction_body(payload: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    return urlencode({"payload": json.dumps(payload)})


_CLICKS = itertools.count(1)


def block_action(
    user: str,
    action_id: str,
    value: str,
    response_url: str,
    *,
    channel: str = "C0GENERAL",
    ephemeral: bool = True,
    view: bool = False,
    action_ts: str | None = None,
) -> dict[str, Any]:
    """A block_actions payload. Each click is its own interaction (a fresh trigger_id and
    action_ts, as Slack sends them); pass ``action_ts`` to build a replay of one."""
    stamp = action_ts or f"{time.time():.6f}.{next(_CLICKS)}"
    container: dict[str, Any] = (
        {"type": "view", "view_id": "V1"}
        if view
        else {"type": "message", "channel_id": channel, "is_ephemeral": ephemeral}
    )
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": {"id": user},
        "api_app_id": "A0001",
        "trigger_id": f"1337.{stamp}.efgh",
        "container": container,
        "actions": [
            {"type": "button", "action_id": action_id, "block_id": "b1", "value": value,
             "action_ts": stamp}
        ],
    }  # fmt: skip
    if not view:
        payload["channel"] = {"id": channel}
        payload["response_url"] = response_url
    return payload


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": "T0001", "user_id": BOT_USER, "is_bot": True}],
        }
    )


# -- the app under test --------------------------------------------------------------------


def slack_settings(settings: Any, fake: FakeSlack, **more: Any) -> Any:
    from pydantic import SecretStr

    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(BOT_TOKEN),
            "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_base": fake.api_base,
            "outbox_worker": False,
            **more,
        }
    )


@dataclass
class SlackHarness:
    """Signed requests to /slack/events through the real app, answered against ``fake``."""

    client: Any  # fastapi.testclient.TestClient
    fake: FakeSlack
    sender: Any
    _n: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def post(self, body: str, content_type: str, **headers: str) -> Any:
        sent = signed_headers(body, content_type) | headers
        return self.client.post("/slack/events", content=body.encode(), headers=sent)

    def command(self, slash: str, text: str, user: str, **extra: str) -> tuple[Any, str]:
        """Returns the HTTP response (the ack) and the response_url name."""
        name = f"cmd{next(self._n)}"
        body = command_body(slash, text, user, self.fake.response_url(name), **extra)
        return self.post(body, "application/x-www-form-urlencoded"), name

    def click(self, user: str, action_id: str, value: str, **kw: Any) -> tuple[Any, str]:
        name = f"act{next(self._n)}"
        payload = block_action(user, action_id, value, self.fake.response_url(name), **kw)
        return self.post(interaction_body(payload), "application/x-www-form-urlencoded"), name

    def interact(self, payload: dict[str, Any]) -> Any:
        return self.post(interaction_body(payload), "application/x-www-form-urlencoded")

    def event(self, event: dict[str, Any], event_id: str, **headers: str) -> Any:
        return self.post(event_body(event, event_id), "application/json", **headers)

    def responses(self, name: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """What the app posted to the response_url ``name`` (waiting for background work)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c.args for c in self.fake.to("response") if c.path.endswith("/" + name)]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} response(s) to {name}")


def make_app(settings: Any, db: Any, fake: FakeSlack, **options: Any) -> tuple[Any, Any]:
    """The real app with Slack mounted (``options`` reach ``SlackBot``), plus its sender."""
    from bot.api import campaigns as campaigns_api
    from bot.app import create_app
    from integrations.slack.wiring import mount

    app = create_app(settings, db)
    if not any(getattr(r, "path", "").startswith("/api/v1/campaigns") for r in app.routes):
        app.include_router(campaigns_api.router)
    sender = mount(app, slack_settings(settings, fake), **options)
    return app, sender


def link(db: Any, code: str, slack_user_id: str | None, email: str | None = None) -> None:
    from sqlalchemy import update

    from storage.models import Staff

    with db.uow() as uow:
        values: dict[str, Any] = {"slack_user_id": slack_user_id}
        if email is not None:
            values["email"] = email
        uow.session.execute(update(Staff).where(Staff.code == code).values(values))
        uow.commit()
