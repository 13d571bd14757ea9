"""Keep secrets, tokens and full phone numbers out of every stored error and log line.

Redaction happens at the source: the API clients build their error texts with ``text()``
(``integrations/wecom/api.py``), so ``outbox.last_error`` never holds a secret. As a second
line, ``install()`` puts a log-record factory in front of every logger (ours, uvicorn's,
urllib3's request lines at DEBUG, httpx's), so a message, its arguments and its exception
chain are scrubbed before any handler sees them.

What is scrubbed: values of query parameters and JSON fields whose name says secret
(``access_token``, ``corpsecret``, ``secret``, ``token``, ``signature``, ``echostr`` …),
``Bearer`` credentials, passwords in URLs (``postgresql://user:pw@host``), every secret value
registered from the settings, and phone numbers (the last 4 digits stay, ``****5678``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

MARK = "[redacted]"

_PARAM = re.compile(
    r"(?i)(?P<key>[\"']?\b(?:access_token|corpsecret|secret|appsecret|app_secret|token|"
    r"suite_access_token|provider_access_token|ticket|jsapi_ticket|password|passwd|sign|"
    r"signature|msg_signature|echostr|encodingaeskey|aes_key|api_key|apikey|client_secret)"
    r"[\"']?\s*(?:=|:|%3D)\s*[\"']?)(?P<value>[^&\s\"',;)}\]]+)"
)
# Credentials are long; "bearer token" or "basic information" in prose are not.
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{16,}")
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
_SLACK_TOKEN = re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]+|\bxapp-[A-Za-z0-9\-]+")
# Mainland mobile numbers (optionally +86): everything but the last 4 digits goes. Other
# digit runs stay: ids and timestamps are what a log reader needs.
_PHONE = re.compile(r"(?<![\w.])(?:(?:\+|%2B)?86[- ]?)?1[3-9]\d{9}(?![\w])")

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def register(values: Iterable[str | None]) -> None:
    """Remember secret values so that they are scrubbed wherever they appear."""
    with _lock:
        # Very short values would scrub innocent text; settings refuse them anyway.
        _secrets.update(v for v in values if v and len(v) >= 6)


def phone(value: str | None) -> str:
    """At most the last 4 digits of a number show, and never more than half of it."""
    if not value:
        return "—"
    digits = "".join(ch for ch in value if ch.isdigit())
    keep = min(4, len(digits) // 2)
    return "****" + (digits[-keep:] if keep else "")


def text(value: object, *, phones: bool = False) -> str:
    """``str(value)`` with every secret (and, with ``phones``, every phone number) scrubbed."""
    out = str(value)
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in out:
            out = out.replace(secret, MARK)
    out = _PARAM.sub(lambda m: m.group("key") + MARK, out)
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MARK}", out)
    out = _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{MARK}@", out)
    out = _SLACK_TOKEN.sub(MARK, out)
    if phones:
        out = _PHONE.sub(lambda m: phone(m.group(0)), out)
    return out


def exception(exc: BaseException) -> str:
    """One line for an exception and its causes, scrubbed (for errors that get stored)."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return text(" <- ".join(parts))


def path(full_path: str) -> str:
    """A request path for the access log: the query string may hold a phone or a token."""
    base, sep, query = full_path.partition("?")
    return f"{base}?{MARK}" if sep and query else base


def _scrub(record: logging.LogRecord) -> None:
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        # uvicorn's access formatter unpacks these five arguments, so they stay a tuple.
        client, method, full_path, version, status = args
        record.args = (client, method, path(str(full_path)), version, status)
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep what we have, scrubbed
        message = str(record.msg)
    record.msg, record.args = text(message, phones=True), None
    if record.exc_info and record.exc_info[1] is not None:
        formatted = logging.Formatter().formatException(record.exc_info)
        # Formatter.format uses exc_text as-is when set, so the traceback is the scrubbed one.
        record.exc_text = text(formatted, phones=True)
    if record.stack_info:
        record.stack_info = text(record.stack_info)


def install() -> None:
    """Scrub every log record at creation (idempotent; called by the app factory and CLI)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)


def register_settings(settings: Any) -> None:
    """Every SecretStr in the settings (and passwords in URLs) becomes a scrubbed value."""
    from pydantic import SecretStr

    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, SecretStr):
                values.append(item.get_secret_value())
            elif hasattr(item, "secret"):  # a scoped API token
                values.append(str(item.secret.get_secret_value()))
    register(values)
    install()  # any process that loads settings (server, CLI, scheduler) scrubs its logs
