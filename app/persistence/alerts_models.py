"""Alert tables (DOMAIN.md §5) on the shared declarative Base; migration 0005 creates them."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.persistence.models import Base, utcnow


class WebhookSubscription(Base):
    """A receiver of alert events. The secret must be usable to sign, so it cannot be hashed:
    it is sealed with the PII cipher (AES-GCM, bound to the row) and never returned again."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    description: Mapped[str | None] = mapped_column(Text)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    secret_rotated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class NotificationPreference(Base):
    """Per-account channels, email address (sealed: personal data) and quiet hours."""

    __tablename__ = "notification_preferences"

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    email_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_key_id: Mapped[str | None] = mapped_column(String(16))
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class AlertEvent(Base):
    """One margin alert, once per event id however many times the message is redelivered."""

    __tablename__ = "alert_events"

    event_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Delivery(Base):
    """One notification of one alert on one channel to one target (a subscription id, or
    'account' for email); the unique key is what stops a redelivered alert sending twice."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_event_id", "channel", "target", name="uq_delivery_target"),
        Index("ix_delivery_subscription", "subscription_id", "created_at"),
        Index("ix_delivery_due", "next_attempt_at",
              postgresql_where=text("status IN ('pending', 'held', 'delivering')")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_event_id: Mapped[str] = mapped_column(ForeignKey("alert_events.event_id"))
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    account_id: Mapped[str | None] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Held: when quiet hours end. Delivering: when the in-flight attempt's lease expires.
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "alert_delivery_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "attempt", name="uq_attempt_number"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("alert_deliveries.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    # The backoff chosen after this attempt failed; None on success or exhaustion.
    retry_in_seconds: Mapped[float | None] = mapped_column(Numeric(asdecimal=False))
