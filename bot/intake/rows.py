"""Row schemas for intake. One schema serves the REST API, CSV and JSONL.

Money is integer cents (``paid_cents``); a file exported from an ERP may give yuan instead
(``paid`` = "199.00"), which is converted exactly. Times without a zone are read in the
store's time zone (``SCRM_TIMEZONE``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.intake import damage
from bot.services.clean import strip_controls
from storage.models import IdentityKind

_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_NAMED = re.compile(r"^([a-z_]+): (.+)$", re.S)


def normalize_phone(raw: str) -> str:
    """Digits only; a Chinese mobile loses its +86/86/0086 prefix. Other numbers keep theirs."""
    digits = re.sub(r"\D", "", raw)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and _CN_MOBILE.match(digits[len(prefix) :]):
            digits = digits[len(prefix) :]
            break
    if not 6 <= len(digits) <= 15:
        raise ValueError("a phone number has 6 to 15 digits, e.g. 13812345678")
    return digits


def _blank_to_none(value: Any) -> Any:
    # CSV gives "" for an empty cell; treat it as absent.
    if isinstance(value, str):
        value = strip_controls(value).strip()
        return value or None
    return value


def _json_list(value: Any) -> Any:
    # CSV cells carry lists as JSON ('["a","b"]') or as "a|b".
    value = _blank_to_none(value)
    if isinstance(value, str):
        if value.startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON: {exc.msg}") from exc
        return [v.strip() for v in value.split("|") if v.strip()]
    return value


Text = Annotated[str | None, BeforeValidator(_blank_to_none)]
Code = Annotated[str, BeforeValidator(_blank_to_none), Field(min_length=1, max_length=64)]
OptCode = Annotated[Annotated[str, Field(max_length=64)] | None, BeforeValidator(_blank_to_none)]
Cents = Annotated[int | None, BeforeValidator(_blank_to_none), Field(ge=0, le=10**13)]


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not a whole number of cents") from exc


def yuan_to_cents(value: Any) -> int:
    try:
        amount = Decimal(str(value).strip().replace(",", "").lstrip("¥￥"))
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount; write it like 199.00") from exc
    # NaN and Infinity parse as Decimals; an exponent past 10^13 yuan would make a huge int.
    if not amount.is_finite() or amount.adjusted() > 13:
        raise ValueError(f"{value!r} is not an amount; write it like 199.00")
    if amount < 0:
        raise ValueError("an amount cannot be negative")
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{value} has more than 2 decimal places")
    return int(cents)


class Row(BaseModel):
    """Base for intake rows: strips strings, forbids unknown fields, resolves yuan to cents."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # pairs of (cents field, yuan field) that may be given either way
    money: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _yuan(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("each row must be an object with named fields")
        data = {k: v for k, v in data.items() if k is not None}
        for name, value in data.items():
            problem = damage.check(name, value)
            if problem:
                raise ValueError(f"{name}: {problem}")
        for cents_field, yuan_field in cls.money:
            yuan = _blank_to_none(data.pop(yuan_field, None))
            if yuan is None:
                continue
            try:
                cents = yuan_to_cents(yuan)
            except ValueError as exc:
                raise ValueError(f"{yuan_field}: {exc}") from exc
            given = _blank_to_none(data.get(cents_field))
            if given is not None and _as_int(given) != cents:
                raise ValueError(
                    f"{cents_field}: {yuan_field} ({yuan}) and {cents_field} ({given}) disagree; give one"
                )
            data[cents_field] = cents
        return data

    @model_validator(mode="after")
    def _fits(self) -> Any:
        # A digit string converts to any size of int; the store's columns hold 64 bits.
        for name, value in self.__dict__.items():
            if type(value) is int and not -damage.INT64 <= value < damage.INT64:
                raise ValueError(f"{name}: {damage.bad_number(value)}")
        return self

    @field_validator("*", mode="before")
    @classmethod
    def _local_time(cls, value: Any, info: ValidationInfo) -> Any:
        # Naive timestamps are local time of the store's zone (passed in the context).
        if info.field_name and info.field_name.endswith("_at"):
            value = _blank_to_none(value)
            serial = damage.excel_serial_date(value)
            if serial:
                raise ValueError(serial)
            if isinstance(value, str):
                try:
                    value = datetime.fromisoformat(value.replace("Z", "+00:00").replace("/", "-"))
                except ValueError as exc:
                    raise ValueError(
                        f"{value!r} is not a time; write it like 2026-11-11 20:30:00 or ISO 8601"
                    ) from exc
            if isinstance(value, datetime) and value.tzinfo is None:
                tz = (info.context or {}).get("tz") or ZoneInfo("Asia/Shanghai")
                value = value.replace(tzinfo=tz)
            if isinstance(value, datetime):
                future = info.field_name in HAPPENED
                _plausible(value, (info.context or {}).get("now"), future_ok=not future)
        return value


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
AHEAD = timedelta(days=1)


# Times of things that have happened; a campaign's dates may well lie ahead.
HAPPENED = {"ordered_at", "refunded_at"}


def _plausible(value: datetime, now: datetime | None, *, future_ok: bool) -> None:
    """Refuse times no order or refund can have: before 1970 (where zoneinfo falls back to
    local mean time, +08:05:43 for Shanghai) or more than a day ahead (a typo like 9999)."""
    now = now or datetime.now(UTC)
    # Years first: comparing aware times near year 1 or 9999 can overflow.
    if value.year < 1970 or value < EARLIEST:
        raise ValueError(f"{value:%Y-%m-%d} is before 1970; check the year")
    if future_ok:
        return
    if value.year > now.year + 1 or value > now + AHEAD:
        raise ValueError(f"{value:%Y-%m-%d} is more than a day in the future; check the date")


class Identities(Row):
    """Any of these names a customer; several of them may turn out to be one person."""

    # A BIGINT id: a larger one cannot exist, and PostgreSQL refuses to compare with it.
    customer_id: Annotated[
        int | None, BeforeValidator(_blank_to_none), Field(ge=1, le=2**63 - 1)
    ] = None
    phone: Text = None
    member_no: OptCode = None
    unionid: OptCode = None
    wecom_external_userid: OptCode = None
    wechat_openid: OptCode = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    def identity_pairs(self) -> list[tuple[str, str]]:
        pairs = []
        for kind in IdentityKind:
            value = getattr(self, kind.value)
            if value:
                pairs.append((kind.value, value))
        return pairs

    def require_identity(self) -> None:
        if self.customer_id is None and not self.identity_pairs():
            raise ValueError(
                "name the customer: give customer_id, phone, member_no, unionid, "
                "wecom_external_userid or wechat_openid"
            )


class ItemIn(Row):
    money = (("paid_cents", "paid"), ("cost_cents", "cost"))

    sku: Code
    name: Text = None
    quantity: int = Field(default=1, ge=1, le=100_000)
    paid_cents: Cents = 0
    cost_cents: Cents = 0


class OrderIn(Identities):
    money = (("paid_cents", "paid"), ("cost_cents", "cost"), ("discount_cents", "discount"))

    order_no: Code
    customer_name: Text = None
    store: OptCode = None
    guide: OptCode = None
    campaign: OptCode = None
    coupon_code: OptCode = None
    ordered_at: datetime
    paid_cents: Annotated[int, BeforeValidator(_blank_to_none), Field(ge=0, le=10**13)]
    cost_cents: Cents = 0
    discount_cents: Cents = 0
    units: Annotated[int | None, BeforeValidator(_blank_to_none), Field(ge=0)] = None
    items: Annotated[list[ItemIn], BeforeValidator(_json_list)] = Field(default_factory=list)
    # single-item CSV convenience columns
    sku: OptCode = None
    item_name: Text = None
    quantity: Annotated[int | None, BeforeValidator(_blank_to_none), Field(ge=1)] = None

    @model_validator(mode="after")
    def _check(self) -> OrderIn:
        self.require_identity()
        if self.sku:
            if self.items:
                raise ValueError(
                    "give either items or the sku/item_name/quantity columns, not both"
                )
            self.items = [
                ItemIn(
                    sku=self.sku,
                    name=self.item_name,
                    quantity=self.quantity or 1,
                    paid_cents=self.paid_cents,
                    cost_cents=self.cost_cents or 0,
                )
            ]
        if self.units is None:
            self.units = sum(i.quantity for i in self.items)
        if self.items and not self.cost_cents:
            self.cost_cents = sum(i.cost_cents or 0 for i in self.items)
        return self


class RefundIn(Row):
    money = (("amount_cents", "amount"),)

    refund_no: Code
    order_no: Code
    amount_cents: Annotated[int, BeforeValidator(_blank_to_none), Field(gt=0, le=10**13)]
    units: Annotated[int, BeforeValidator(_blank_to_none), Field(ge=0)] = 0
    refunded_at: datetime
    reason: Text = None


class CustomerIn(Identities):
    name: Text = None
    gender: Literal["male", "female", "unknown"] | None = None
    birthday: date | None = None
    store: OptCode = None
    guide: OptCode = None
    remark: Text = None

    @field_validator("gender", "birthday", mode="before")
    @classmethod
    def _blank(cls, value: Any, info: ValidationInfo) -> Any:
        value = _blank_to_none(value)
        serial = damage.excel_serial_date(value) if info.field_name == "birthday" else None
        if serial:
            raise ValueError(serial)
        return {"男": "male", "女": "female", "m": "male", "f": "female"}.get(value, value)

    @model_validator(mode="after")
    def _check(self) -> CustomerIn:
        self.require_identity()
        return self


class StaffIn(Row):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Literal["guide", "manager", "admin"] = "guide"
    store: OptCode = None
    wecom_userid: OptCode = None
    slack_user_id: OptCode = None
    email: Text = None
    locale: Literal["zh", "en"] = "zh"


class StoreIn(Row):
    code: Code
    name: Annotated[str, Field(min_length=1, max_length=200)]
    city: Text = None
    timezone: Text = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except Exception as exc:
                raise ValueError(f"unknown time zone {value!r}; use e.g. Asia/Shanghai") from exc
        return value


class CouponIn(Row):
    code: Code
    value_cents: Cents = 0
    money = (("value_cents", "value"),)


class CampaignIn(Row):
    money = (("fixed_cost_cents", "fixed_cost"),)

    code: Code
    name: Annotated[str, Field(min_length=1, max_length=200)]
    starts_at: datetime
    ends_at: datetime
    stores: Annotated[list[str], BeforeValidator(_json_list)] = Field(default_factory=list)
    coupons: Annotated[list[CouponIn | str], BeforeValidator(_json_list)] = Field(
        default_factory=list
    )
    fixed_cost_cents: Cents = 0
    target_tag: Text = None
    target_stage: Text = None
    previous: OptCode = None

    @model_validator(mode="after")
    def _window(self) -> CampaignIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def coupon_list(self) -> list[CouponIn]:
        return [c if isinstance(c, CouponIn) else CouponIn(code=c) for c in self.coupons]


def explain(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as (field, reason) pairs a person can act on."""
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "row"
        msg = err["msg"].removeprefix("Value error, ")
        named = _NAMED.match(msg)
        if loc == "row" and named:  # a row-level check that names its field
            loc, msg = named.group(1), named.group(2)
        if err["type"] == "extra_forbidden":
            msg = "unknown field; check the spelling against the documented columns"
        elif err["type"] == "missing":
            msg = "required; add this field"
        out.append({"field": loc, "reason": msg})
    return out
