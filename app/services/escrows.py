"""Escrow use cases: request, create (funding hold), approve, release, refund."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.commands import CommandType
from app.domain.errors import NotFound
from app.domain.escrow import Escrow, EscrowStatus, check_terms, normalise_party
from app.domain.ledger import TransferStatus
from app.domain.money import plain
from app.persistence.models import Command, EscrowApproval, EscrowRecord
from app.services import ledger
from app.services.commands import Outcome, run_command
from app.services.compliance.gate import require_clear
from app.services.outbox import SETTLEMENT_RESULTS, record_event


def funding_transfer_id(escrow_id: str) -> str:
    return f"escrow:{escrow_id}:funding"


def release_transfer_id(escrow_id: str) -> str:
    return f"escrow:{escrow_id}:release"


def load(session: Session, escrow_id: str, *, lock: bool = False) -> EscrowRecord:
    record = session.get(EscrowRecord, escrow_id, with_for_update=lock)
    if record is None:
        raise NotFound(f"escrow {escrow_id} not found", code="escrow_not_found")
    return record


def approvers_of(session: Session, escrow_id: str) -> list[EscrowApproval]:
    return list(session.scalars(
        select(EscrowApproval).where(EscrowApproval.escrow_id == escrow_id)
        .order_by(EscrowApproval.approved_at, EscrowApproval.approver)
    ))


def _to_domain(session: Session, record: EscrowRecord) -> Escrow:
    return Escrow(
        escrow_id=record.escrow_id, payer=record.payer, payee=record.payee,
        arbiter=record.arbiter, amount=record.amount, asset=record.asset,
        approvals_required=record.approvals_required, release_time=record.release_time,
        status=EscrowStatus(record.status),
        approvers={a.approver for a in approvers_of(session, record.escrow_id)},
    )


def publish_state_change(session: Session, record: EscrowRecord, previous: str | None) -> None:
    record_event(session, topic=SETTLEMENT_RESULTS, event_type="escrow.state_changed",
                 aggregate_id=record.escrow_id,
                 data={"escrow_id": record.escrow_id,
                       "contract_address": record.contract_address,
                       "previous_status": previous, "status": record.status,
                       "payer": record.payer, "payee": record.payee,
                       "amount": plain(record.amount), "asset": record.asset})


def create_escrow(session: Session, command_id: str, now: datetime) -> Outcome:
    """Fund a pending hold from the payer and record the escrow in `created`."""
    def handle(session: Session, command: Command, now: datetime) -> None:
        terms: dict[str, Any] = command.payload
        assert command.escrow_id and command.amount and command.asset and command.payer
        payer, payee = normalise_party(command.payer), normalise_party(terms["payee"])
        arbiter = normalise_party(terms["arbiter"]) if terms.get("arbiter") else None
        amount = Decimal(command.amount)
        check_terms(payer, payee, arbiter, amount, int(terms["approvals_required"]))
        transfer = ledger.open_transfer(
            session, transfer_id=funding_transfer_id(command.escrow_id),
            debit_account=payer, credit_account=ledger.escrow_hold_account(command.escrow_id),
            asset=command.asset, amount=amount, pending=True)
        record = EscrowRecord(
            escrow_id=command.escrow_id, source="api", contract_address=None,
            payer=payer, payee=payee, arbiter=arbiter, amount=amount, asset=command.asset,
            approvals_required=int(terms["approvals_required"]),
            release_time=now + timedelta(seconds=int(terms["release_delay_seconds"])),
            status=EscrowStatus.CREATED.value, funding_transfer_id=transfer.transfer_id)
        session.add(record)
        session.flush()
        publish_state_change(session, record, None)

    return run_command(session, command_id, now, handle,
                       expected=frozenset({CommandType.ESCROW_CREATE}))


def approve_escrow(session: Session, command_id: str, now: datetime) -> Outcome:
    def handle(session: Session, command: Command, now: datetime) -> None:
        assert command.escrow_id
        record = load(session, command.escrow_id, lock=True)
        escrow = _to_domain(session, record)
        approver = normalise_party(command.payload["approver"])
        if not escrow.approve(approver):
            return
        session.execute(insert(EscrowApproval)
                        .values(escrow_id=record.escrow_id, approver=approver, approved_at=now)
                        .on_conflict_do_nothing())
        if escrow.status.value != record.status:
            previous, record.status = record.status, escrow.status.value
            publish_state_change(session, record, previous)

    return run_command(session, command_id, now, handle,
                       expected=frozenset({CommandType.ESCROW_APPROVE}))


def settle_release(session: Session, record: EscrowRecord) -> None:
    """Post the hold, then pay the payee out of it: both transfers or neither."""
    ledger.resolve_transfer(session, record.funding_transfer_id, TransferStatus.POSTED)
    ledger.open_transfer(session, transfer_id=release_transfer_id(record.escrow_id),
                         debit_account=ledger.escrow_hold_account(record.escrow_id),
                         credit_account=record.payee, asset=record.asset,
                         amount=record.amount, pending=False)


def release_escrow(session: Session, command_id: str, now: datetime,
                   settings: Settings) -> Outcome:
    """An API-initiated release: the escrow's guards, then the compliance gate on both parties
    (blocked refuses, review holds; either way the funds stay in the escrow)."""
    def handle(session: Session, command: Command, now: datetime) -> None:
        assert command.escrow_id
        record = load(session, command.escrow_id, lock=True)
        escrow = _to_domain(session, record)
        if not escrow.release(now):
            return
        require_clear(session, (record.payer, record.payee), settings)
        settle_release(session, record)
        previous, record.status = record.status, escrow.status.value
        record.hold_reason = None
        publish_state_change(session, record, previous)

    return run_command(session, command_id, now, handle,
                       expected=frozenset({CommandType.ESCROW_RELEASE}))


def refund_escrow(session: Session, command_id: str, now: datetime,
                  grace: timedelta) -> Outcome:
    def handle(session: Session, command: Command, now: datetime) -> None:
        assert command.escrow_id
        record = load(session, command.escrow_id, lock=True)
        escrow = _to_domain(session, record)
        if not escrow.refund(command.payload["requested_by"], now, grace):
            return
        ledger.resolve_transfer(session, record.funding_transfer_id, TransferStatus.VOIDED)
        previous, record.status = record.status, escrow.status.value
        publish_state_change(session, record, previous)

    return run_command(session, command_id, now, handle,
                       expected=frozenset({CommandType.ESCROW_REFUND}))
