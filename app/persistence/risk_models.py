"""Risk tables (DOMAIN.md §3) on the shared declarative Base; migration 0004 creates them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.persistence.models import ZERO, Base, utcnow

# Scores and USD totals are derived values: unbounded NUMERIC keeps them exact whatever the
# magnitude (a tiny borrow can make a score of many digits); rounding happens at output only.
Derived = Numeric()


class RiskAccount(Base):
    """One row per account: the row every margin recalculation locks, so two racing
    recalculations of one account emit one event per status change."""

    __tablename__ = "risk_accounts"
    # Every recalculation rewrites the row; free space per page keeps those updates HOT (no
    # index entry per update), which a 100,000-account batch notices.
    __table_args__ = ({"postgresql_with": {"fillfactor": 80}},)

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(16))
    # The last status that was not UNKNOWN: margin events fire on its changes.
    alert_status: Mapped[str | None] = mapped_column(String(16))
    health_score: Mapped[Decimal | None] = mapped_column(Derived)
    calculated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class RiskPosition(Base):
    __tablename__ = "risk_positions"
    __table_args__ = (
        CheckConstraint("collateral >= 0 AND borrowed >= 0 AND escrowed >= 0",
                        name="quantities_non_negative"),
        # "Which accounts hold this asset" for a price move.
        Index("ix_risk_positions_asset", "asset", "account_id"),
    )

    account_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("risk_accounts.account_id"), primary_key=True)
    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    collateral: Mapped[Decimal] = mapped_column(default=ZERO)
    borrowed: Mapped[Decimal] = mapped_column(default=ZERO)
    # Kept current by escrow events (settlement.events.v1), never by the positions API.
    escrowed: Mapped[Decimal] = mapped_column(default=ZERO)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class RiskPrice(Base):
    """The latest price per asset, and the coalescing state of its recomputes: `tick_seq`
    counts new latest prices; `recompute_requested_at` is set while one recompute is queued,
    so a flood of ticks queues one recompute, which then processes the newest price."""

    __tablename__ = "risk_prices"
    __table_args__ = (CheckConstraint("price_usd > 0", name="price_positive"),)

    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    price_usd: Mapped[Decimal]
    price_time: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(100))
    tick_seq: Mapped[int] = mapped_column(BigInteger, default=1)
    recompute_requested_at: Mapped[datetime | None]
    recomputed_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class RiskPriceHistory(Base):
    """Every tick once per (asset, timestamp): the idempotency key of a price and the series
    historical VaR reads."""

    __tablename__ = "risk_price_history"
    __table_args__ = (CheckConstraint("price_usd > 0", name="price_positive"),)

    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    price_time: Mapped[datetime] = mapped_column(primary_key=True)
    price_usd: Mapped[Decimal]
    source: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RiskEscrow(Base):
    """An escrow as collateral of its payer while open. A release or refund seen before the
    escrow itself leaves a closed row, so the late creation adds nothing."""

    __tablename__ = "risk_escrows"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status_known"),)

    contract_address: Mapped[str] = mapped_column(String(200), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(200))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class RiskSnapshot(Base):
    __tablename__ = "risk_snapshots"
    __table_args__ = (Index("ix_risk_snapshots_account", "account_id", text("id DESC")),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    health_score: Mapped[Decimal | None] = mapped_column(Derived)
    total_collateral_usd: Mapped[Decimal | None] = mapped_column(Derived)
    total_borrow_usd: Mapped[Decimal | None] = mapped_column(Derived)
    liquidation_price_drop_percent: Mapped[Decimal | None] = mapped_column(Derived)
    initial_margin_usd: Mapped[Decimal | None] = mapped_column(Derived)
    maintenance_margin_usd: Mapped[Decimal | None] = mapped_column(Derived)
    unpriced_assets: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    cause: Mapped[str] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(64))
    calculated_at: Mapped[datetime]


class RiskMarginEvent(Base):
    __tablename__ = "risk_margin_events"
    __table_args__ = (Index("ix_risk_margin_events_account", "account_id", "occurred_at"),)

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    previous_status: Mapped[str] = mapped_column(String(16))
    health_score: Mapped[Decimal | None] = mapped_column(Derived)
    previous_health_score: Mapped[Decimal | None] = mapped_column(Derived)
    total_collateral_usd: Mapped[Decimal | None] = mapped_column(Derived)
    total_borrow_usd: Mapped[Decimal | None] = mapped_column(Derived)
    liquidation_price_drop_percent: Mapped[Decimal | None] = mapped_column(Derived)
    message: Mapped[str] = mapped_column(Text)
    batch_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]


class RiskCalculation(Base):
    """A VaR/stress request and, once a worker ran it, its result."""

    __tablename__ = "risk_calculations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status_known"),
        Index("ix_risk_calculations_pending", "created_at",
              postgresql_where=text("status = 'pending'")),
    )

    calculation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(200))
    request: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    result: Mapped[dict[str, Any] | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    completed_at: Mapped[datetime | None]


class RiskBatch(Base):
    """A set-based recompute of many accounts, split into chunks by account-id range."""

    __tablename__ = "risk_batches"
    __table_args__ = (
        CheckConstraint("scope IN ('all', 'asset')", name="scope_known"),
        CheckConstraint("status IN ('running', 'completed', 'completed_with_failures', "
                        "'cancelled')", name="status_known"),
        Index("ix_risk_batches_running", "asset", postgresql_where=text("status = 'running'")),
    )

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str | None] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))  # api | cli | nightly | price
    # Makes a trigger idempotent (the nightly run of a date, a price recompute's tick seq).
    request_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="running")
    chunk_size: Mapped[int] = mapped_column(Integer)
    total_accounts: Mapped[int] = mapped_column(Integer, default=0)
    total_chunks: Mapped[int] = mapped_column(Integer, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0)
    chunks_failed: Mapped[int] = mapped_column(Integer, default=0)
    accounts_done: Mapped[int] = mapped_column(Integer, default=0)
    accounts_failed: Mapped[int] = mapped_column(Integer, default=0)
    events_emitted: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class RiskBatchChunk(Base):
    """Accounts with lower_bound <= account_id < upper_bound (None = unbounded). Its effects
    commit in one transaction with status `done`, so a redelivered chunk changes nothing."""

    __tablename__ = "risk_batch_chunks"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed', 'cancelled')",
                        name="status_known"),
        Index("ix_risk_batch_chunks_pending", "batch_id",
              postgresql_where=text("status = 'pending'")),
    )

    batch_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("risk_batches.batch_id"), primary_key=True)
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    lower_bound: Mapped[str | None] = mapped_column(String(200))
    upper_bound: Mapped[str | None] = mapped_column(String(200))
    planned_accounts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    accounts: Mapped[int] = mapped_column(Integer, default=0)
    events: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # When the chunk's task was last sent: the sweeper re-sends chunks pending long after it.
    dispatched_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
