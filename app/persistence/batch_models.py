"""Ledger reconciliation runs: one row per run, one per invariant check, one per break found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.persistence.models import Base


class ReconciliationRun(Base):
    """A run checks every ledger invariant; each check is a chunk of the batch, run as its own
    task, so a slow check neither holds the others nor outlives one task's time limit."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'completed', 'completed_with_breaks', "
            "'completed_with_failures', 'cancelled')",
            name="status_known"),
        Index("ix_reconciliation_runs_created", "created_at"),
    )

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # nightly | cli | api
    # The nightly run of a date exists once, however often beat fires.
    request_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(32), default="running")
    total_checks: Mapped[int] = mapped_column(Integer)
    checks_done: Mapped[int] = mapped_column(Integer, default=0)
    checks_with_breaks: Mapped[int] = mapped_column(Integer, default=0)
    checks_failed: Mapped[int] = mapped_column(Integer, default=0)
    breaks_found: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ReconciliationCheck(Base):
    """One invariant of one run; done (with its break count), failed (an error) or cancelled
    in one transaction with its breaks, so a redelivered check changes nothing."""

    __tablename__ = "reconciliation_checks"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'done', 'failed', 'cancelled')",
                        name="status_known"),
        Index("ix_reconciliation_checks_pending", "dispatched_at",
              postgresql_where=text("status = 'pending'")),
    )

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("reconciliation_runs.run_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(48), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    breaks: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # The compliance alert a broken (or failed) check opened.
    alert_id: Mapped[str | None] = mapped_column(String(64))
    dispatched_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ReconciliationBreak(Base):
    """One broken invariant: which rows, what the ledger says and what it should say."""

    __tablename__ = "reconciliation_breaks"
    __table_args__ = (Index("ix_reconciliation_breaks_run", "run_id", "check_name"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("reconciliation_runs.run_id"))
    check_name: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(48))
    asset: Mapped[str | None] = mapped_column(String(16))
    account_id: Mapped[str | None] = mapped_column(String(200))
    transfer_id: Mapped[str | None] = mapped_column(String(200))
    escrow_id: Mapped[str | None] = mapped_column(String(200))
    expected: Mapped[str | None] = mapped_column(Text)
    actual: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    found_at: Mapped[datetime] = mapped_column(server_default=func.now())
