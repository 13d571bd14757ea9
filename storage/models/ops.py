"""Tasks, the inbound inbox, the outbound outbox, the audit log and import checkpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("guide_id", "customer_id", "day"),
        Index("ix_tasks_guide_day", "guide_id", "day"),
        Index("ix_tasks_customer_id", "customer_id"),
        Index("ix_tasks_day_status", "day", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))  # churn_risk, silent, new_followup, birthday …
    rank: Mapped[int] = mapped_column(Integer, default=0)
    value_at_risk_cents: Mapped[int] = mapped_column(BigId, default=0)
    suggested_message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    outcome: Mapped[str | None] = mapped_column(String(200))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[date | None] = mapped_column(Date)
    skip_reason: Mapped[str | None] = mapped_column(String(200))
    # The day the task was first issued; carried-over copies keep it, so expiry counts from it.
    origin_day: Mapped[date | None] = mapped_column(Date)
    # Outcome attribution: the first order within the window after the task was done.
    converted_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    converted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModelFit(Base):
    """A fitted purchase model (BG/NBD); the newest one scores customers until the next refit."""

    __tablename__ = "model_fits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    model: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    log_likelihood: Mapped[float | None] = mapped_column()
    customers: Mapped[int] = mapped_column(Integer, default=0)
    calibration_end: Mapped[datetime] = mapped_column(UTCDateTime)
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxEvent(Base):
    """One row per inbound event already processed: retried deliveries are dropped here."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("source", "event_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    event_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """A push waiting to be sent. The idempotency key makes a second enqueue a no-op."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # wecom, wechat, slack
    kind: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # pending, sent, dead (refused for good), expired (worthless before it could be sent)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Retried until then, not up to a count: a morning list is worth sending until evening.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A push of several messages resumes after the parts already confirmed.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    # When the first unconfirmed part may have gone out (an answer lost, a worker killed
    # mid-send): a resend is safe only while the platform's duplicate check remembers it.
    maybe_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    channel: Mapped[str] = mapped_column(String(16))  # api, cli, console, wecom, slack, system
    action: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)


class ImportRun(Base):
    """Checkpoint of a file import: a re-run after a crash resumes after ``rows_done``."""

    __tablename__ = "import_runs"
    __table_args__ = (UniqueConstraint("kind", "file_sha256"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversationState(Base):
    """Short-lived per-user chat state (e.g. numbered candidates awaiting a pick).

    Kept in the store, not in process memory, so any replica can answer the next message.
    """

    __tablename__ = "conversation_state"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
