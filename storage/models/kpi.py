"""Campaign KPI facts, kept current as orders, refunds and registrations land.

A KPI query reads these and never the order table (docs/kpis.md). Two tables:

- ``campaign_days``: one row per campaign, local day, store and guide with additive sums
  (orders, sales, refunds …) and user counts. A customer is counted once per campaign, in
  the cell of their first credited order (buyer counts) or of their registration (the
  funnel: registered, targeted, touched, and targets who purchased), so a breakdown's rows
  add up to its total.
- ``campaign_allocations``: per campaign and customer, which cells that customer is counted
  in and for what, so a later change (a refund, a second order, a merge, a re-attribution)
  moves exactly their counts.

Store and guide are 0 when an order has none: a primary key column cannot be NULL, so
these two are plain numbers rather than foreign keys.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId

NONE = 0  # store_id / guide_id of a cell for orders without a store or guide

# The additive measures of a cell, in the order the KPI engine reads them.
DAY_MEASURES = (
    "orders",
    "units",
    "paid_cents",
    "cost_cents",
    "discount_cents",
    "coupons",
    "coupon_cents",
    "explicit_orders",
    "task_orders",
    "window_orders",
    "refunds",
    "refund_cents",
    "refund_units",
    "refund_cost_cents",
    "registered",
    "targeted",
    "touched",
    "targeted_buyers",
    "targeted_repeat_buyers",
    "buyers",
    "new_buyers",
    "repeat_buyers",
    "refund_buyers",
)


def _count() -> Mapped[int]:
    return mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=0)


class CampaignDay(Base):
    __tablename__ = "campaign_days"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # local day (SCRM_TIMEZONE)
    store_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    guide_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # order facts, on the day, store and guide of the order (refunds follow their order)
    orders: Mapped[int] = _count()
    units: Mapped[int] = _count()
    paid_cents: Mapped[int] = _count()
    cost_cents: Mapped[int] = _count()
    discount_cents: Mapped[int] = _count()
    coupons: Mapped[int] = _count()
    coupon_cents: Mapped[int] = _count()
    explicit_orders: Mapped[int] = _count()
    task_orders: Mapped[int] = _count()
    window_orders: Mapped[int] = _count()
    refunds: Mapped[int] = _count()
    refund_cents: Mapped[int] = _count()
    refund_units: Mapped[int] = _count()
    refund_cost_cents: Mapped[int] = _count()
    # targets and how far they went (the funnel), on the day of registration (or the
    # campaign's first day) under their home store and guide: one cohort per cell
    registered: Mapped[int] = _count()
    targeted: Mapped[int] = _count()
    touched: Mapped[int] = _count()
    targeted_buyers: Mapped[int] = _count()
    targeted_repeat_buyers: Mapped[int] = _count()
    # customers, on the day, store and guide of their first credited order
    buyers: Mapped[int] = _count()
    new_buyers: Mapped[int] = _count()
    repeat_buyers: Mapped[int] = _count()
    refund_buyers: Mapped[int] = _count()


class CampaignAllocation(Base):
    """Where one customer is counted in one campaign's ``campaign_days``, and as what."""

    __tablename__ = "campaign_allocations"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id"), primary_key=True, index=True
    )
    reg_day: Mapped[date | None] = mapped_column(Date)
    reg_store_id: Mapped[int] = mapped_column(BigId, default=NONE)
    reg_guide_id: Mapped[int] = mapped_column(BigId, default=NONE)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    targeted: Mapped[bool] = mapped_column(Boolean, default=False)
    touched: Mapped[bool] = mapped_column(Boolean, default=False)
    targeted_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    targeted_repeat_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    buy_day: Mapped[date | None] = mapped_column(Date)
    buy_store_id: Mapped[int] = mapped_column(BigId, default=NONE)
    buy_guide_id: Mapped[int] = mapped_column(BigId, default=NONE)
    buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    new_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    repeat_buyer: Mapped[bool] = mapped_column(Boolean, default=False)
    refund_buyer: Mapped[bool] = mapped_column(Boolean, default=False)


class KpiMark(Base):
    """How far a catch-up has read an append-only log (the last interaction id folded in)."""

    __tablename__ = "kpi_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigId, default=0)
