"""A thin, synchronous WeCom server-API client on top of wechatpy's HTTP handling.

wechatpy supplies the request plumbing and errcode parsing; this module adds what it lacks
(wechatpy 1.8.18, ``wechatpy/client/base.py``):

- the token comes from a shared ``TokenStore`` and is passed explicitly, with wechatpy's
  ``auto_retry`` off: its own retry on 40014/42001 recurses without bound and refreshes
  without a lock, and its ``fetch_access_token`` ignores ``API_BASE_URL`` and has no timeout;
- on 40014 (invalid token) or 42001 (expired) the token is refreshed once and the call is
  retried once; a second failure is reported, not looped on;
- every request has a timeout, and a network failure says whether the request may have
  reached WeCom (``ambiguous``), so the outbox can rely on the platform's duplicate check;
- raw calls for endpoints wechatpy does not know (``externalcontact/batch/get_by_user``);
- no error text carries a secret: requests puts the full URL (``corpsecret=``,
  ``access_token=``) into its exception messages, so errors are built from a scrubbed text
  (``bot.redact``) and raised ``from None``, which keeps the original out of the chain too.

Error codes (developer.work.weixin.qq.com/document/path/90313, 全局错误码):
-1 system busy, 45009 API rate limit, 45033 too many concurrent calls: retry later;
40014 / 42001: token; 48002 API forbidden (the app lacks the permission), 60011 no privilege
for this user or contact, 84061 no such external-contact relation, 81013 every recipient
invalid: never going to work.
"""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError
from wechatpy.enterprise.client import WeChatClient
from wechatpy.exceptions import WeChatClientException

from bot import redact
from integrations.wecom.tokens import TokenStore

TOKEN_ERRORS = {40014, 42001}
RETRYABLE = {-1, 45009, 45033, 45011}
TIMEOUT = (3.05, 10.0)  # (connect, read) seconds


class ApiError(Exception):
    """WeCom answered with a non-zero errcode (``errcode`` None: an HTTP error status)."""

    def __init__(self, errcode: int | None, errmsg: str, endpoint: str) -> None:
        super().__init__(f"{endpoint}: errcode {errcode} {errmsg}")
        self.errcode, self.errmsg, self.endpoint = errcode, errmsg, endpoint

    @property
    def retryable(self) -> bool:
        return self.errcode is None or self.errcode in RETRYABLE or self.errcode in TOKEN_ERRORS


class NetworkError(Exception):
    """No answer. ``ambiguous``: the request may have been processed anyway."""

    def __init__(self, message: str, ambiguous: bool) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class Api:
    """One secret's view of the API (the app secret, or the customer-contact secret)."""

    def __init__(
        self,
        base: str,
        *,
        app_id: str,
        secret: str,
        tokens: TokenStore,
        token_key: str,
        token_path: str = "gettoken",
        token_params: dict[str, str] | None = None,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.base = base if base.endswith("/") else base + "/"
        self.tokens, self.token_key, self.timeout = tokens, token_key, timeout
        self.token_path = token_path
        self.token_params = token_params or {"corpid": app_id, "corpsecret": secret}
        redact.register([secret])
        self.client = WeChatClient(app_id, secret, timeout=timeout, auto_retry=False)
        # wechatpy builds URLs from this attribute; pointing it elsewhere is its supported
        # way to reach a proxy (or, in tests, the fake server).
        self.client.API_BASE_URL = self.base

    # --- tokens ---------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
        try:
            res = self.client._http.get(
                self.base + self.token_path, params=self.token_params, timeout=self.timeout
            )
            res.raise_for_status()
            data = res.json()
        except requests.RequestException as exc:
            raise NetworkError(_failure(self.token_path, exc), ambiguous=False) from None
        except ValueError:
            raise ApiError(None, "token answer is not JSON", self.token_path) from None
        if data.get("errcode") or "access_token" not in data:
            raise ApiError(
                int(data.get("errcode") or 0), str(data.get("errmsg", "")), self.token_path
            )
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    def token(self) -> str:
        return self.tokens.get(self.token_key) or self.tokens.refresh(
            self.token_key, self._fetch_token, None
        )

    # --- calls ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        token = self.token()
        try:
            return self._once(method, endpoint, token, params, json, files)
        except ApiError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
        token = self.tokens.refresh(self.token_key, self._fetch_token, token)
        return self._once(method, endpoint, token, params, json, files)

    def get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        return self.call("get", endpoint, params=params)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("post", endpoint, json=body)

    def _once(
        self,
        method: str,
        endpoint: str,
        token: str,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        files: dict[str, Any] | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": {**(params or {}), "access_token": token}}
        if json is not None:
            kwargs["data"] = json  # wechatpy serialises dicts with ensure_ascii=False
        if files is not None:
            kwargs["files"] = files
        try:
            result = self.client._request(method, endpoint, **kwargs)
        except WeChatClientException as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            errmsg = redact.text(exc.errmsg or (f"HTTP {status}" if status else ""))
            raise ApiError(exc.errcode, errmsg, endpoint) from None
        except requests.ConnectTimeout as exc:
            raise NetworkError(_failure(endpoint, exc), ambiguous=False) from None
        except requests.ConnectionError as exc:
            # A refused or unresolvable connection never carried the request: safe to resend
            # at any time. A connection dropped after it was sent may have been acted on.
            # (urllib3's NewConnectionError is a ConnectTimeoutError.)
            never_sent = isinstance(_reason(exc), ConnectTimeoutError)
            raise NetworkError(_failure(endpoint, exc), ambiguous=not never_sent) from None
        except requests.RequestException as exc:
            # A reset or read timeout may come after WeCom acted on the request.
            raise NetworkError(_failure(endpoint, exc), ambiguous=True) from None
        if not isinstance(result, dict):
            raise ApiError(None, "answer is not JSON", endpoint)
        return result


def _failure(endpoint: str, exc: BaseException) -> str:
    return f"{endpoint}: {redact.exception(exc)}"


def _reason(exc: requests.RequestException) -> object:
    """The urllib3 error under a requests one (``MaxRetryError.reason``), if any."""
    inner = exc.args[0] if exc.args else None
    return getattr(inner, "reason", inner)
