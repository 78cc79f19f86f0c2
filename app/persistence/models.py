"""Typed SQLAlchemy 2 models. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# 20 integer digits and 18 decimals: ETH in wei precision, and any fiat amount we will meet.
Amount = Numeric(38, 18)
ZERO = Decimal(0)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: DateTime(timezone=True), Decimal: Amount, dict[str, Any]: JSONB,
    }


class LedgerBalance(Base):
    """One account's balance in one asset. Rows are locked FOR UPDATE before any change."""

    __tablename__ = "ledger_balances"
    __table_args__ = (
        CheckConstraint(
            "NOT no_overdraft OR credits_posted - debits_posted - debits_pending >= 0",
            name="no_overdraft_respected",
        ),
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 "
            "AND credits_pending >= 0",
            name="counters_non_negative",
        ),
    )

    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # customer | external | escrow
    no_overdraft: Mapped[bool]
    debits_posted: Mapped[Decimal] = mapped_column(default=ZERO)
    credits_posted: Mapped[Decimal] = mapped_column(default=ZERO)
    debits_pending: Mapped[Decimal] = mapped_column(default=ZERO)
    credits_pending: Mapped[Decimal] = mapped_column(default=ZERO)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class LedgerTransfer(Base):
    """A transfer's id is the idempotency key of what caused it, so a replay cannot double it."""

    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account <> credit_account", name="distinct_accounts"),
        CheckConstraint("status IN ('pending', 'posted', 'voided')", name="status_known"),
        ForeignKeyConstraint(["debit_account", "asset"],
                             ["ledger_balances.account_id", "ledger_balances.asset"]),
        ForeignKeyConstraint(["credit_account", "asset"],
                             ["ledger_balances.account_id", "ledger_balances.asset"]),
    )

    transfer_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    debit_account: Mapped[str] = mapped_column(String(200))
    credit_account: Mapped[str] = mapped_column(String(200))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal]
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    resolved_at: Mapped[datetime | None]


class EscrowRecord(Base):
    __tablename__ = "escrows"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("approvals_required BETWEEN 1 AND 3", name="approvals_range"),
        CheckConstraint("payer <> payee", name="payer_not_payee"),
        CheckConstraint("status IN ('created', 'approved', 'released', 'refunded')",
                        name="status_known"),
    )

    escrow_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # api | chain
    contract_address: Mapped[str | None] = mapped_column(String(200), unique=True)
    payer: Mapped[str] = mapped_column(String(200))
    payee: Mapped[str] = mapped_column(String(200))
    arbiter: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[Decimal]
    asset: Mapped[str] = mapped_column(String(16))
    approvals_required: Mapped[int] = mapped_column(SmallInteger)
    release_time: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    funding_transfer_id: Mapped[str] = mapped_column(ForeignKey("ledger_transfers.transfer_id"))
    hold_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class EscrowApproval(Base):
    """The primary key makes each approver count once, whatever the delivery count."""

    __tablename__ = "escrow_approvals"

    escrow_id: Mapped[str] = mapped_column(ForeignKey("escrows.escrow_id"), primary_key=True)
    approver: Mapped[str] = mapped_column(String(200), primary_key=True)
    approved_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Command(Base):
    """Every accepted request that a worker carries out; the command id is its idempotency key."""

    __tablename__ = "commands"
    __table_args__ = (
        CheckConstraint(
            "status IN ('received', 'validated', 'settling', 'settled', 'failed')",
            name="status_known",
        ),
        Index("ix_commands_received", "last_enqueued_at",
              postgresql_where=text("status = 'received'")),
        Index("ix_commands_escrow", "escrow_id"),
        # What a settlement task may take into its unit of work (alembic 0013).
        Index("ix_commands_waiting", "received_at", "command_id",
              postgresql_where=text("status = 'received' AND reason IS NULL "
                                    "AND batch_id IS NULL AND enqueue_count = 0")),
    )

    command_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="received")
    reason: Mapped[str | None] = mapped_column(String(64))
    reason_detail: Mapped[str | None] = mapped_column(Text)
    escrow_id: Mapped[str | None] = mapped_column(String(200))
    workflow_id: Mapped[str | None] = mapped_column(String(200))
    account_ref: Mapped[str | None] = mapped_column(String(200))
    payer: Mapped[str | None] = mapped_column(String(200))
    payee: Mapped[str | None] = mapped_column(String(200))
    asset: Mapped[str | None] = mapped_column(String(16))
    amount: Mapped[Decimal | None]
    counter_asset: Mapped[str | None] = mapped_column(String(16))
    counter_amount: Mapped[Decimal | None]
    deadline: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    request_hash: Mapped[str] = mapped_column(String(64))
    enqueue_count: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_enqueued_at: Mapped[datetime] = mapped_column(server_default=func.now())
    validated_at: Mapped[datetime | None]
    settling_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    # The batch (or the task, for a single command) whose unit of work made it terminal.
    settled_by: Mapped[str | None] = mapped_column(String(200))
    # The batch that submitted it (POST /v1/settlement/command-batches); none when it was
    # submitted on its own, and then another settlement task may take it into its unit of work.
    batch_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=utcnow)


class CommandBatch(Base):
    """Settlement commands submitted together (POST /v1/settlement/command-batches)."""

    __tablename__ = "command_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_count: Mapped[int]
    accepted_count: Mapped[int]
    rejected_count: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CommandBatchItem(Base):
    """An accepted item of a batch, at its position in the request."""

    __tablename__ = "command_batch_items"

    batch_id: Mapped[str] = mapped_column(ForeignKey("command_batches.batch_id"),
                                          primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    command_id: Mapped[str] = mapped_column(ForeignKey("commands.command_id"))


class IdempotencyRecord(Base):
    """The first response to an Idempotency-Key, stored in the same transaction as its effect."""

    __tablename__ = "idempotency_records"

    api_key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """Keys are stored as SHA-256 of the secret; the key id is the public prefix."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    revoked_at: Mapped[datetime | None]


class OutboxEvent(Base):
    """A fact that will leave the system, written in the same transaction as its effect."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_unpublished", "seq", postgresql_where=text("published_at IS NULL")),
        # The relay's per-aggregate ordering check looks for earlier unsent rows of a key.
        Index("ix_outbox_pending_aggregate", "topic", "aggregate_id", "seq",
              postgresql_where=text("published_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    topic: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(100))
    aggregate_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class InboundEvent(Base):
    """Every event the bridge relayed, once per dedup key. `waiting` events (for an escrow not
    known yet) are applied when their escrow appears."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        Index("ix_inbound_waiting", "aggregate_id", postgresql_where=text("status = 'waiting'")),
    )

    dedup_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    aggregate_id: Mapped[str | None] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # applied | waiting | ignored | recorded
    note: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    applied_at: Mapped[datetime | None]


class DeadLetter(Base):
    """A message the bridge could not accept, kept whole with its reason until replayed."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    subscription: Mapped[str] = mapped_column(String(200))
    message_id: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    attributes: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(server_default=func.now())
    replayed_at: Mapped[datetime | None]
    replay_count: Mapped[int] = mapped_column(default=0)
