"""Settlement commands: deposits, collateral transfers and DVP (both legs or neither)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.domain.commands import CommandType
from app.domain.errors import InvalidInput
from app.persistence.models import Command
from app.services import ledger
from app.services.commands import Outcome, run_command

SETTLEMENT_TYPES = frozenset(
    {CommandType.DVP, CommandType.COLLATERAL_TRANSFER, CommandType.DEPOSIT}
)


def _settle(session: Session, command: Command, now: datetime) -> None:
    if command.amount is None or command.asset is None or command.payee is None:
        raise InvalidInput("command lacks amount, asset or payee", code="incomplete_command")
    kind = CommandType(command.type)
    payer = command.payer or ledger.external_account(command.asset)
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


def process_command(session: Session, command_id: str, now: datetime) -> Outcome:
    return run_command(session, command_id, now, _settle, expected=SETTLEMENT_TYPES)
