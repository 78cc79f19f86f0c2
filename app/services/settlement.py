"""Settlement commands: deposits, collateral transfers and DVP (both legs or neither)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.commands import CommandType
from app.domain.errors import InvalidInput
from app.persistence.models import Command
from app.services import ledger
from app.services.commands import Outcome, run_command
from app.services.settlement_gate import require_clear

SETTLEMENT_TYPES = frozenset(
    {CommandType.DVP, CommandType.COLLATERAL_TRANSFER, CommandType.DEPOSIT}
)


def _settle(session: Session, command: Command, settings: Settings) -> None:
    if command.amount is None or command.asset is None or command.payee is None:
        raise InvalidInput("command lacks amount, asset or payee", code="incomplete_command")
    kind = CommandType(command.type)
    payer = command.payer or ledger.external_account(command.asset)
    if kind is not CommandType.DEPOSIT:
        # Validation includes the gate on both parties (DOMAIN.md §2); a deposit comes from
        # the bank account and is screened where the money is used, not where it arrives.
        require_clear(session, (payer, command.payee), settings)
    # Payment leg: amount of asset from payer to payee (for a deposit, from the bank account).
    ledger.open_transfer(session, transfer_id=f"{command.command_id}:payment",
                         debit_account=payer, credit_account=command.payee,
                         asset=command.asset, amount=command.amount, pending=False)
    if kind is CommandType.DVP:
        if command.counter_amount is None or command.counter_asset is None:
            raise InvalidInput("a DVP needs counter_asset and counter_amount",
                               code="counter_leg_missing")
        # Delivery leg: counter_amount of counter_asset from payee back to payer. Both legs
        # sit in the caller's savepoint, so a refusal here also undoes the payment leg.
        ledger.open_transfer(session, transfer_id=f"{command.command_id}:delivery",
                             debit_account=command.payee, credit_account=payer,
                             asset=command.counter_asset, amount=command.counter_amount,
                             pending=False)


def process_command(session: Session, command_id: str, now: datetime,
                    settings: Settings) -> Outcome:
    def handle(session: Session, command: Command, now: datetime) -> None:
        _settle(session, command, settings)

    return run_command(session, command_id, now, handle, expected=SETTLEMENT_TYPES)
