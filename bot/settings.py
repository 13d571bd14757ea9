"""Settings from environment variables (prefix ``SCRM_``) and an optional ``.env`` file.

One class, built once in the app factory or CLI and passed down; nothing reads the
environment at import time.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot import redact

# Values people paste from templates; running with one of them is always a mistake.
_PLACEHOLDERS = {"changeme", "change-me", "secret", "your-secret", "xxx", "todo", "placeholder"}
# Values an attacker tries first (docs/security.md): refused for every secret.
_WEAK = _PLACEHOLDERS | {
    "password",
    "passw0rd",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "admin",
    "root",
    "test",
    "token",
    "default",
    "letmein",
    "000000",
    "111111",
}
SCOPES = ("read", "intake", "admin")
MIN_TOKEN_CHARS = 24
AES_KEY_CHARS = 43  # WeCom and the OA issue EncodingAESKey as 43 base64 characters


class ApiToken(BaseModel):
    """One entry of SCRM_API_TOKENS: ``TOKEN:SCOPE[+SCOPE]`` (a bare token: intake+read)."""

    model_config = {"frozen": True}

    secret: SecretStr
    scopes: frozenset[str]
    bare: bool = False

    @classmethod
    def parse(cls, entry: str) -> ApiToken:
        value, sep, scopes = entry.rpartition(":")
        if not sep:
            return cls(secret=SecretStr(entry), scopes=frozenset({"intake", "read"}), bare=True)
        names = [s.strip().lower() for s in scopes.split("+")]
        unknown = [n for n in names if n not in SCOPES]
        if unknown or not value:
            raise ValueError(
                "SCRM_API_TOKENS entries are TOKEN:SCOPE[+SCOPE] with scopes read, intake and"
                f" admin; one entry has the scope {scopes!r}"
            )
        return cls(secret=SecretStr(value), scopes=frozenset(names))

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCRM_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite:///./scrm.db"
    redis_url: str | None = None
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    metrics_token: SecretStr | None = None  # set: GET /metrics needs "Bearer <it>"
    api_docs: bool = True  # false: no /docs, /redoc or /openapi.json (production)
    timezone: str = "Asia/Shanghai"
    demo: bool = False
    playground: bool | None = None  # None: on in demo mode, off otherwise
    max_body_bytes: int = 5 * 1024 * 1024
    intake_max_rows: int = 5000
    # A guide sees customers they follow ("followed") or everyone in their store ("store").
    guide_scope: Literal["followed", "store"] = "followed"
    chat_state_ttl_seconds: int = 300
    default_tag_group: str = "其他"

    # Lifecycle (docs/lifecycle.md explains each threshold and its source).
    new_customer_days: int = 30  # first order this recent (and only one occasion): "new"
    silent_gap_ratio: float = 1.5  # recency beyond 1.5x the customer's own typical gap: silent
    churn_gap_ratio: float = 2.5  # beyond 2.5x: churn risk
    lost_gap_ratio: float = 4.0  # beyond 4x (and P(alive) low): lost
    lost_p_alive: float = 0.2
    min_gap_days: float = 14.0  # a typical gap shorter than this is treated as this
    one_time_silent_days: int = 0  # 0 = use the population's median gap
    # Churn probability: P(no purchase in the next N days), calibrated on the shop's history;
    # churn_risk and lost are thresholds on it (the rhythm above still tells active from silent).
    churn_horizon_days: int = 90
    churn_risk_probability: float = 0.6
    lost_probability: float = 0.9
    refit_weekday: int = 6  # the BG/NBD model is refitted weekly (0=Monday), not per order

    # Tasks
    tasks_per_guide: int = 20
    task_cooldown_days: int = 7
    task_carry_days: int = 3  # an undone task carries over this many days, then expires
    new_followup_days: int = 3  # new-customer follow-up this many days after the first purchase
    post_purchase_days: int = 14  # post-purchase check-in
    holdout_percent: float = 10.0  # never tasked, to measure lift
    holdout_salt: str = "scrm-holdout-v1"

    # Campaign KPIs and attribution
    task_attribution_days: int = 14  # a done task converts (and credits) an order within N days
    roi_definition: Literal["gmv", "profit"] = (
        "gmv"  # gmv: GMV / cost (Chinese retail); profit: (GP - cost) / cost
    )

    wecom_corp_id: str | None = None
    wecom_agent_id: int | None = None
    wecom_secret: SecretStr | None = None
    wecom_token: SecretStr | None = None
    wecom_aes_key: SecretStr | None = None
    wecom_contact_secret: SecretStr | None = None
    wecom_api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"

    wechat_app_id: str | None = None
    wechat_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None
    wechat_aes_key: SecretStr | None = None
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_base: str = "https://slack.com/api/"
    slack_digest_channel: str | None = None

    # Scheduler (times are local, in the store's zone)
    scheduler: bool = True  # `scrm serve` also runs the scheduler (one leader among replicas)
    lifecycle_time: str = "02:00"
    reconcile_time: str = "03:00"
    morning_push_time: str = "09:30"
    manager_summary_time: str = "18:30"
    weekly_report_day: int = 0  # Monday
    weekly_report_time: str = "09:00"
    misfire_grace_minutes: int = 120  # a push missed by more than this is reported, not sent late
    leader_poll_seconds: float = 10.0  # a standby checks the leader lock this often

    outbox_worker: bool = True  # send pushes from this process (turn off on web-only replicas)
    quiet_start: str = "21:00"  # no pushes to guides from this local time …
    quiet_end: str = "09:00"  # … until this one

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        # Accept "a:read,b:intake+read" from the environment as well as a list.
        if isinstance(value, str):
            value = [t.strip() for t in value.split(",") if t.strip()]
        if isinstance(value, list):
            return [
                ApiToken.parse(v)
                if isinstance(v, str)
                else ApiToken.parse(v.get_secret_value())
                if isinstance(v, SecretStr)
                else v
                for v in value
            ]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai"
            ) from exc
        return value

    @model_validator(mode="after")
    def _no_weak_secrets(self) -> Settings:
        tokens = [t.secret for t in self.api_tokens]
        if self.metrics_token is not None:
            tokens.append(self.metrics_token)
        for token in tokens:
            if len(token.get_secret_value()) < MIN_TOKEN_CHARS:
                raise ValueError(
                    f"an API or metrics token has {len(token.get_secret_value())} characters;"
                    f" use at least {MIN_TOKEN_CHARS} random ones (e.g. `openssl rand -hex 24`)"
                )
        for name in type(self).model_fields:
            value = getattr(self, name)
            for item in value if isinstance(value, list) else [value]:
                secret = item.secret if isinstance(item, ApiToken) else item
                if isinstance(secret, SecretStr):
                    _check_secret(name, secret.get_secret_value())
        for name in ("wecom_corp_id", "wechat_app_id", "slack_digest_channel"):
            value = getattr(self, name)
            if value is not None and value != value.strip():
                raise ValueError(f"SCRM_{name.upper()} has surrounding whitespace; remove it")
        for name in ("wecom_aes_key", "wechat_aes_key"):
            key = getattr(self, name)
            if key is not None and len(key.get_secret_value()) != AES_KEY_CHARS:
                raise ValueError(
                    f"SCRM_{name.upper()} has {len(key.get_secret_value())} characters; an"
                    f" EncodingAESKey has exactly {AES_KEY_CHARS}: copy it again from the admin"
                    " console"
                )
        redact.register_settings(self)
        return self

    def __repr_args__(self) -> Any:
        # Passwords in URLs are secrets too, though these settings are plain strings.
        for name, value in super().__repr_args__():
            yield name, redact.text(value) if isinstance(value, str) else value

    @property
    def bare_tokens(self) -> int:
        return sum(t.bare for t in self.api_tokens)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def playground_enabled(self) -> bool:
        return self.demo if self.playground is None else self.playground

    @property
    def wecom_enabled(self) -> bool:
        return bool(
            self.wecom_corp_id and self.wecom_secret and self.wecom_token and self.wecom_aes_key
        )

    @property
    def wechat_enabled(self) -> bool:
        return bool(self.wechat_app_id and self.wechat_secret and self.wechat_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)


def _check_secret(name: str, value: str) -> None:
    env = f"SCRM_{name.upper()}"
    if value != value.strip():
        raise ValueError(f"{env} has surrounding whitespace; remove it")
    if value.lower() in _PLACEHOLDERS:
        raise ValueError(f"{env} is a placeholder; set the real value or leave it unset")
    if value.lower() in _WEAK or len(set(value)) == 1:
        raise ValueError(f"{env} is a well-known weak value; set a long random one")
