"""Facts reported from the chain (settlement.events.v1): recorded once per dedup key, applied to
escrows idempotently, merged when two event kinds describe one escrow, and held until their
escrow is known when they arrive out of order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.compliance.gate import GateStatus
from app.domain.escrow import EscrowStatus
from app.domain.ledger import TransferStatus
from app.domain.money import from_base_units
from app.domain.parties import is_zero_address
from app.persistence.db import lock_key_for_transaction
from app.persistence.models import EscrowApproval, EscrowRecord, InboundEvent, new_id
from app.services import escrows, ledger
from app.services.commands import apply_reported_status
from app.services.compliance.alerts import raise_chain_fact_alert
from app.services.compliance.gate import party_gate

CONSUMER = "settlement"
CREATION = ("EscrowDeployed", "EscrowCreated")


def contract_of(event_type: str, data: Mapping[str, Any]) -> str:
    return str(data["escrow"] if event_type == "EscrowDeployed" else data["contract_address"])


def record(session: Session, consumer: str, event: Mapping[str, Any], *,
           aggregate_id: str | None = None, status: str = "recorded") -> InboundEvent | None:
    """Store the event once per consumer; None when this dedup key was already handled."""
    inserted = session.execute(
        insert(InboundEvent)
        .values(dedup_key=event["dedup_key"], consumer=consumer, event_type=event["event_type"],
                aggregate_id=aggregate_id, message_id=event.get("message_id"),
                payload=event["data"], status=status)
        .on_conflict_do_nothing()
        .returning(InboundEvent.dedup_key)
    ).scalar_one_or_none()
    row = session.get(InboundEvent, (event["dedup_key"], consumer), with_for_update=True)
    if inserted is None and row is not None and row.status != "waiting":
        return None
    return row


def apply_chain_event(session: Session, event: Mapping[str, Any], now: datetime,
                      settings: Settings) -> str:
    """Apply one escrow event; returns what happened (applied, waiting, ignored, duplicate)."""
    contract = contract_of(event["event_type"], event["data"])
    # One contract's events apply one at a time, whichever subscription thread sent them.
    lock_key_for_transaction(session, contract)
    row = record(session, CONSUMER, event, aggregate_id=contract, status="waiting")
    if row is None:
        return "duplicate"
    outcome = _apply(session, row, now, settings)
    if row.event_type in CREATION and outcome == "applied":
        _apply_waiting(session, contract, now, settings)
    return outcome


def _apply(session: Session, row: InboundEvent, now: datetime, settings: Settings) -> str:
    data = row.payload
    record_ = session.scalars(select(EscrowRecord).where(
        EscrowRecord.contract_address == row.aggregate_id).with_for_update()).one_or_none()
    if row.event_type in CREATION:
        note = _create_or_merge(session, row.event_type, data, existing=record_, now=now,
                                settings=settings)
        return _done(row, now, "applied", note)
    if record_ is None:
        row.note = "escrow not known yet; applied when it appears"
        return "waiting"
    if row.event_type == "Approved":
        return _approve(session, row, record_, now)
    target = (EscrowStatus.RELEASED if row.event_type == "EscrowReleased"
              else EscrowStatus.REFUNDED)
    return _finish(session, row, record_, target, now=now, settings=settings)


def _done(row: InboundEvent, now: datetime, status: str, note: str | None = None) -> str:
    row.status, row.applied_at, row.note = status, now, note
    return status


def _terms(event_type: str, data: Mapping[str, Any], now: datetime,
           settings: Settings) -> dict[str, Any]:
    if event_type == "EscrowDeployed":
        release_time = now + timedelta(seconds=int(data["release_delay"]))
    elif isinstance(data["release_time"], int):
        release_time = datetime.fromtimestamp(data["release_time"], UTC)
    else:
        release_time = datetime.fromisoformat(data["release_time"])
    arbiter = data.get("arbiter")
    return {
        "payer": data["payer"], "payee": data["payee"],
        # The contract encodes "no arbiter" as the zero address.
        "arbiter": None if not arbiter or is_zero_address(arbiter) else arbiter,
        "amount": from_base_units(data["amount"], settings.chain_escrow_asset,
                                  settings.asset_decimals).amount,
        "approvals_required": int(data["approvals_required"]), "release_time": release_time,
    }


def _create_or_merge(session: Session, event_type: str, data: Mapping[str, Any], *,
                     existing: EscrowRecord | None, now: datetime,
                     settings: Settings) -> str | None:
    terms = _terms(event_type, data, now, settings)
    asset = settings.chain_escrow_asset
    if existing is not None:
        # The second description of a known escrow never resets it; it may only fill gaps.
        if event_type == "EscrowCreated":
            existing.release_time = terms["release_time"]
        same = (existing.payer, existing.payee, existing.amount) == (
            terms["payer"], terms["payee"], terms["amount"])
        return None if same else "terms differ from the first report; first report kept"
    escrow_id = new_id()
    chain = data.get("chain_id") or "unknown"
    transfer = ledger.open_transfer(
        session, transfer_id=escrows.funding_transfer_id(escrow_id),
        debit_account=ledger.external_account(asset, f"chain:{chain}"),
        credit_account=ledger.escrow_hold_account(escrow_id), asset=asset,
        amount=terms["amount"], pending=True)
    created = EscrowRecord(escrow_id=escrow_id, source="chain",
                           contract_address=str(data.get("escrow") or data["contract_address"]),
                           asset=asset, status=EscrowStatus.CREATED.value,
                           funding_transfer_id=transfer.transfer_id, **terms)
    session.add(created)
    session.flush()
    escrows.publish_state_change(session, created, None)
    return None


def _approve(session: Session, row: InboundEvent, record_: EscrowRecord, now: datetime) -> str:
    approver = row.payload["approver"]
    if approver not in {record_.payer, record_.payee, record_.arbiter}:
        return _done(row, now, "ignored", f"{approver} is not a party of this escrow")
    if EscrowStatus(record_.status).terminal:
        return _done(row, now, "ignored", f"escrow already {record_.status}")
    session.execute(insert(EscrowApproval)
                    .values(escrow_id=record_.escrow_id, approver=approver, approved_at=now)
                    .on_conflict_do_nothing())
    approvals = session.scalar(select(func.count()).select_from(EscrowApproval)
                               .where(EscrowApproval.escrow_id == record_.escrow_id)) or 0
    if record_.status == EscrowStatus.CREATED.value and approvals >= record_.approvals_required:
        record_.status = EscrowStatus.APPROVED.value
        escrows.publish_state_change(session, record_, EscrowStatus.CREATED.value)
    return _done(row, now, "applied")


def _finish(session: Session, row: InboundEvent, record_: EscrowRecord, target: EscrowStatus,
            *, now: datetime, settings: Settings) -> str:
    """A release or refund the chain reports has happened: record it whatever our guards say."""
    if record_.status == target.value:
        return _done(row, now, "ignored", f"escrow already {target.value}")
    if EscrowStatus(record_.status).terminal:
        return _done(row, now, "ignored",
                     f"chain reports {target.value} but escrow is {record_.status}")
    if target is EscrowStatus.RELEASED:
        escrows.settle_release(session, record_)
    else:
        ledger.resolve_transfer(session, record_.funding_transfer_id, TransferStatus.VOIDED)
    previous, record_.status = record_.status, target.value
    escrows.publish_state_change(session, record_, previous)
    if target is EscrowStatus.RELEASED:
        _alert_on_held_parties(session, row, record_, settings)
    return _done(row, now, "applied")


def _alert_on_held_parties(session: Session, row: InboundEvent, record_: EscrowRecord,
                           settings: Settings) -> None:
    """The money moved on chain whatever our gate says; a party it holds raises an alert."""
    for party in (record_.payer, record_.payee):
        decision = party_gate(session, party, settings)
        if decision.status is not GateStatus.CLEAR:
            raise_chain_fact_alert(session, party=party, decision=decision,
                                   fact_key=row.dedup_key,
                                   details={"escrow_id": record_.escrow_id,
                                            "contract_address": record_.contract_address,
                                            "event_type": row.event_type})


def _apply_waiting(session: Session, contract: str, now: datetime,
                   settings: Settings) -> None:
    waiting = session.scalars(
        select(InboundEvent)
        .where(InboundEvent.consumer == CONSUMER, InboundEvent.aggregate_id == contract,
               InboundEvent.status == "waiting")
        .order_by(InboundEvent.received_at, InboundEvent.dedup_key)
        .with_for_update()
    ).all()
    for row in waiting:
        _apply(session, row, now, settings)


def apply_status_event(session: Session, event: Mapping[str, Any], now: datetime) -> str:
    """Settlement workflow statuses, once per dedup key, applied to their command."""
    row = record(session, CONSUMER, event, aggregate_id=event["data"]["command_id"])
    if row is None:
        return "duplicate"
    outcome = apply_reported_status(session, event["event_type"], dict(event["data"]), now)
    return _done(row, now, "applied" if outcome == "applied" else "recorded", outcome)


def record_only(session: Session, consumer: str, event: Mapping[str, Any]) -> str:
    """For consumers that do not exist yet: keep the event so nothing is lost before they do."""
    return "recorded" if record(session, consumer, event) is not None else "duplicate"
