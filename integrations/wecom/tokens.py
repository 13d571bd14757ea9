"""Access tokens shared by every replica, refreshed by one of them at a time.

WeCom (and the WeChat Official Account) hand out one access_token per secret; fetching a new
one may invalidate nothing, but ``gettoken`` is itself rate limited, and N replicas that all
see 42001 at once must not stampede it. So exactly one replica refreshes while the others
wait a moment and read what it wrote:

- with Redis (``SCRM_REDIS_URL``): the token lives under ``<key>`` with a TTL, and the refresh
  lock is ``SET <key>:lock NX EX``;
- without Redis: the ``api_tokens`` row holds the token, and the lock is ``refreshing_until``,
  taken with a conditional UPDATE (only one transaction can move it from NULL/past to future).

wechatpy keeps its token in a per-process session and refreshes without a lock (and retries
40014/42001 forever), so the clients here pass the token themselves with ``auto_retry`` off.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update

from storage.base import utcnow
from storage.db import Database
from storage.models import ApiToken
from storage.upsert import insert_ignore

# A token is treated as expired this long before WeCom says so: a call that starts with a
# token about to lapse would otherwise fail with 42001 on arrival.
MARGIN = 300
LOCK_SECONDS = 15
WAIT_SECONDS = 10.0

Fetch = Callable[[], tuple[str, int]]  # returns (token, expires_in seconds)


class TokenUnavailable(Exception):
    """Another replica holds the refresh lock and did not finish in time."""


class TokenStore(Protocol):
    def get(self, key: str) -> str | None: ...

    def refresh(self, key: str, fetch: Fetch, stale: str | None) -> str: ...


class DbTokens:
    def __init__(self, db: Database | Callable[[], Database]) -> None:
        self._db = db

    @property
    def db(self) -> Database:
        return self._db if isinstance(self._db, Database) else self._db()

    def get(self, key: str) -> str | None:
        with self.db.session() as s:
            row = s.execute(
                select(ApiToken.value, ApiToken.expires_at).where(ApiToken.key == key)
            ).one_or_none()
        if row is None or row.value is None or row.expires_at is None:
            return None
        return row.value if row.expires_at > utcnow() else None

    def refresh(self, key: str, fetch: Fetch, stale: str | None) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = utcnow()
            with self.db.uow() as uow:
                s = uow.session
                insert_ignore(s, ApiToken, [{"key": key, "updated_at": now}], ["key"])
                row = s.get(ApiToken, key)
                assert row is not None
                fresh = (
                    row.value is not None
                    and row.value != stale
                    and row.expires_at is not None
                    and row.expires_at > now
                )
                if fresh:
                    assert row.value is not None
                    return row.value
                taken = s.execute(
                    update(ApiToken)
                    .where(
                        ApiToken.key == key,
                        or_(ApiToken.refreshing_until.is_(None), ApiToken.refreshing_until < now),
                        # Still stale: PostgreSQL re-checks this on the newest row version,
                        # so a worker that read before another stored a fresh token takes
                        # nothing here, loops, and reads that token instead of fetching again.
                        or_(
                            ApiToken.value.is_(None),
                            ApiToken.expires_at.is_(None),
                            ApiToken.expires_at <= now,
                            *([ApiToken.value == stale] if stale else []),
                        ),
                    )
                    .values(refreshing_until=now + timedelta(seconds=LOCK_SECONDS))
                    .execution_options(synchronize_session=False)
                ).rowcount  # type: ignore[attr-defined]
                uow.commit()
            if taken:
                return self._fetch_and_store(key, fetch)
            if time.monotonic() > deadline:
                raise TokenUnavailable(f"token {key} is being refreshed by another worker")
            time.sleep(0.05)

    def _fetch_and_store(self, key: str, fetch: Fetch) -> str:
        try:
            token, expires_in = fetch()
        except BaseException:
            with self.db.uow() as uow:
                uow.session.execute(
                    update(ApiToken).where(ApiToken.key == key).values(refreshing_until=None)
                )
                uow.commit()
            raise
        with self.db.uow() as uow:
            uow.session.execute(
                update(ApiToken)
                .where(ApiToken.key == key)
                .values(
                    value=token,
                    expires_at=utcnow() + timedelta(seconds=max(expires_in - MARGIN, 60)),
                    refreshing_until=None,
                )
            )
            uow.commit()
        return token


class RedisTokens:
    def __init__(self, url: str) -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url, decode_responses=True, socket_timeout=2)

    def get(self, key: str) -> str | None:
        value = self.redis.get(key)
        return str(value) if value else None

    def refresh(self, key: str, fetch: Fetch, stale: str | None) -> str:
        deadline = time.monotonic() + WAIT_SECONDS
        me = uuid.uuid4().hex
        while True:
            current = self.redis.get(key)
            if current and current != stale:
                return str(current)
            if self.redis.set(f"{key}:lock", me, nx=True, ex=LOCK_SECONDS):
                try:
                    current = self.redis.get(key)
                    if current and current != stale:
                        return str(current)
                    token, expires_in = fetch()
                    self.redis.set(key, token, ex=max(expires_in - MARGIN, 60))
                    return token
                finally:
                    # Release only our own lock (it may have expired and been taken since).
                    if self.redis.get(f"{key}:lock") == me:
                        self.redis.delete(f"{key}:lock")
            if time.monotonic() > deadline:
                raise TokenUnavailable(f"token {key} is being refreshed by another worker")
            time.sleep(0.05)


def token_store(redis_url: str | None, db: Database | Callable[[], Database]) -> TokenStore:
    return RedisTokens(redis_url) if redis_url else DbTokens(db)
