"""State the channels and the scheduler keep: shared API tokens, WeChat followers, Slack
digest subscriptions and scheduled job runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class ApiToken(Base):
    """An access token shared by every replica (when there is no Redis), with a refresh lock:
    the replica that sets ``refreshing_until`` refreshes; the others wait and reread."""

    __tablename__ = "api_tokens"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)  # e.g. wecom:<corp>:<agent>
    value: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refreshing_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WechatFollower(Base):
    """A WeChat Official Account follower (subscribe, unsubscribe, scan)."""

    __tablename__ = "wechat_followers"

    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    scene: Mapped[str | None] = mapped_column(String(128))
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DigestSubscription(Base):
    """A manager's scheduled KPI digest into a Slack channel."""

    __tablename__ = "digest_subscriptions"
    __table_args__ = (Index("ix_digest_subscriptions_staff_id", "staff_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    channel: Mapped[str] = mapped_column(String(32))  # "slack" (or "wecom")
    target: Mapped[str] = mapped_column(String(64))  # Slack channel id
    campaigns: Mapped[list[str]] = mapped_column(
        JsonDoc, default=list
    )  # codes; empty: running ones
    metrics: Mapped[list[str]] = mapped_column(JsonDoc, default=list)  # empty: the standard set
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)  # store, guide, period
    frequency: Mapped[str] = mapped_column(String(8), default="daily")  # daily, weekly
    weekday: Mapped[int | None] = mapped_column(Integer)  # 0 = Monday, for weekly
    time_of_day: Mapped[str] = mapped_column(String(5), default="09:00")  # HH:MM local
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobRun(Base):
    """One run (or miss) of a scheduled job, for status, metrics and exactly-once checks."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_id_scheduled_for", "job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(100))
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(
        String(16), default="running"
    )  # running, ok, failed, missed
    runner: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
