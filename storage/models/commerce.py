"""Orders, items, refunds, campaigns and campaign participants. Money is integer cents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_customer_ordered_at", "customer_id", "ordered_at"),
        Index("ix_orders_campaign_id", "campaign_id"),
        Index("ix_orders_store_ordered_at", "store_id", "ordered_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    attribution: Mapped[str | None] = mapped_column(String(16))  # coupon, task, window, explicit
    ordered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_cents: Mapped[int] = mapped_column(BigId)
    cost_cents: Mapped[int] = mapped_column(BigId, default=0)
    discount_cents: Mapped[int] = mapped_column(BigId, default=0)
    refunded_cents: Mapped[int] = mapped_column(BigId, default=0)
    units: Mapped[int] = mapped_column(Integer, default=0)
    coupon_code: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrderItem(Base):
    __tablename__ = "order_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    paid_cents: Mapped[int] = mapped_column(BigId, default=0)
    cost_cents: Mapped[int] = mapped_column(BigId, default=0)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigId)
    units: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(String(200))
    refunded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fixed_cost_cents: Mapped[int] = mapped_column(BigId, default=0)
    target_tag_id: Mapped[int | None] = mapped_column(ForeignKey("tags.id"))
    target_stage: Mapped[str | None] = mapped_column(String(16))
    previous_campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignStore(Base):
    """The stores a campaign runs in; a campaign with none runs everywhere."""

    __tablename__ = "campaign_stores"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), primary_key=True)


class CampaignCoupon(Base):
    __tablename__ = "campaign_coupons"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    value_cents: Mapped[int] = mapped_column(BigId, default=0)


class CampaignParticipant(Base):
    """Per-campaign facts for one customer, kept current as orders and refunds land."""

    __tablename__ = "campaign_participants"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id"), primary_key=True, index=True
    )
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    targeted: Mapped[bool] = mapped_column(default=False)
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_purchase_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    orders: Mapped[int] = mapped_column(Integer, default=0)
    units: Mapped[int] = mapped_column(Integer, default=0)
    paid_cents: Mapped[int] = mapped_column(BigId, default=0)
    cost_cents: Mapped[int] = mapped_column(BigId, default=0)
    refund_cents: Mapped[int] = mapped_column(BigId, default=0)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
