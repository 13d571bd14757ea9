"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.metrics import Metrics
from bot.settings import ApiToken, Settings
from storage.db import Database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]

_bearer = HTTPBearer(auto_error=False, description="A token from SCRM_API_TOKENS")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]

# What each scope is for, in the sentence a refused client reads.
_FOR = {
    "read": "reading (GET routes)",
    "intake": "writing orders, refunds, customers and campaign participants",
    "admin": "stores, staff, campaigns and everything else",
}


def _token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> ApiToken:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token; send 'Authorization: Bearer <token>' with a token from SCRM_API_TOKENS",
            headers={"WWW-Authenticate": "Bearer"},
        )
    given = credentials.credentials.encode()
    # Compare against every token in constant time, so timing does not reveal a prefix.
    found: ApiToken | None = None
    for token in settings.api_tokens:
        if secrets.compare_digest(given, token.secret.get_secret_value().encode()):
            found = found or token
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid bearer token; check SCRM_API_TOKENS",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def scope(name: str) -> Callable[..., ApiToken]:
    """A dependency: a valid token that carries ``name`` (``admin`` carries every scope)."""

    def check(settings: SettingsDep, credentials: Credentials) -> ApiToken:
        token = _token(settings, credentials)
        if not token.allows(name):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this token lacks the '{name}' scope, which is needed for {_FOR[name]}; ask an"
                f" admin for a token listed as TOKEN:{name} in SCRM_API_TOKENS",
            )
        return token

    check.__name__ = f"require_{name}"
    return check


ReadClient = Annotated[ApiToken, Depends(scope("read"))]
IntakeClient = Annotated[ApiToken, Depends(scope("intake"))]
AdminClient = Annotated[ApiToken, Depends(scope("admin"))]
# Kept for routers that have not picked a scope: reading is the least a token can do.
require_token = scope("read")
ApiClient = ReadClient
