"""Turning stored rows into response bodies."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import TypeAdapter

from app.domain import ledger as rules
from app.domain.money import format_amount
from app.persistence.models import Command, EscrowApproval, EscrowRecord, LedgerBalance
from app.services.commands import Accepted, next_retry_at
from web.endpoint import Reply
from web.schemas import (
    AcceptedResponse,
    ApprovalView,
    BalanceView,
    CommandView,
    EscrowView,
)


def accepted(result: Accepted) -> Reply:
    body = AcceptedResponse(
        command_id=result.command_id,
        task_id=result.command_id,
        status_url=f"/v1/settlement/commands/{result.command_id}",
        escrow_id=result.escrow_id,
        escrow_url=f"/v1/escrows/{result.escrow_id}" if result.escrow_id else None,
    )
    return Reply(202, body.model_dump(mode="json", exclude_none=True))


def command_view(command: Command) -> CommandView:
    return CommandView.model_validate(command, from_attributes=True)


_STAMP: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)


def command_body(command: Command, sweep_after: timedelta) -> dict[str, Any]:
    """A command's GET body; a held one also says when the sweeper retries it."""
    body = command_view(command).model_dump(mode="json")
    # Rendered by pydantic like the view's other timestamps.
    body["next_retry_at"] = _STAMP.dump_python(next_retry_at(command, sweep_after), mode="json")
    return body


def _amount(value: Decimal | None, asset: str | None, decimals: Mapping[str, int]) -> str | None:
    if value is None or asset is None:
        return None
    return format_amount(value, asset, decimals)


def escrow_view(record: EscrowRecord, approvals: list[EscrowApproval],
                commands: list[Command], decimals: Mapping[str, int]) -> dict[str, Any]:
    view = EscrowView(
        escrow_id=record.escrow_id, status=record.status, payer=record.payer,
        payee=record.payee, arbiter=record.arbiter,
        amount=_amount(record.amount, record.asset, decimals),
        asset=record.asset, approvals_required=record.approvals_required,
        approvals=[ApprovalView(approver=a.approver, approved_at=a.approved_at)
                   for a in approvals],
        release_time=record.release_time, contract_address=record.contract_address,
        hold_reason=record.hold_reason, created_at=record.created_at,
        commands=[command_view(c) for c in commands],
    )
    return view.model_dump(mode="json")


def pending_escrow_view(escrow_id: str, create: Command, commands: list[Command],
                        decimals: Mapping[str, int]) -> dict[str, Any]:
    """An escrow whose creation has not run yet, or was refused (reason says why)."""
    status = "failed" if create.status == "failed" else "pending"
    view = EscrowView(escrow_id=escrow_id, status=status, reason=create.reason,
                      payer=create.payer, payee=create.payee, asset=create.asset,
                      amount=_amount(create.amount, create.asset, decimals),
                      commands=[command_view(c) for c in commands])
    return view.model_dump(mode="json")


def balance_view(balance: LedgerBalance, decimals: Mapping[str, int]) -> BalanceView:
    def fmt(value: Decimal) -> str:
        return format_amount(value, balance.asset, decimals)

    return BalanceView(
        asset=balance.asset,
        posted=fmt(rules.posted(balance)),
        pending_debits=fmt(balance.debits_pending),
        pending_credits=fmt(balance.credits_pending),
        available=fmt(rules.available(balance)),
    )
