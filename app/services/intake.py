"""Accepting requests from the API: validate synchronously, store the command, name the task.

Everything that can be refused without looking at contended state is refused here, so a
client learns of a bad request at once (4xx) instead of from a failed task later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.domain.commands import CommandType
from app.domain.errors import InvalidInput
from app.domain.escrow import check_terms
from app.domain.money import check_asset, parse_amount, plain
from app.domain.parties import check_account, is_zero_address
from app.persistence.models import new_id
from app.services import escrows
from app.services.commands import Accepted, NewCommand, accept_command


def request_escrow(session: Session, decimals: Mapping[str, int], *, payer: str, payee: str,
                   arbiter: str | None, amount: object, asset: str,
                   release_delay_seconds: int, approvals_required: int) -> Accepted:
    money = parse_amount(amount, asset, decimals)
    payer, payee = check_account(payer, "payer"), check_account(payee, "payee")
    # The escrow contract's "no arbiter" is the zero address; the API accepts it as such too.
    if arbiter and is_zero_address(arbiter):
        arbiter = None
    arbiter = check_account(arbiter, "arbiter") if arbiter else None
    check_terms(payer, payee, arbiter, money.amount, approvals_required)
    escrow_id, command_id = new_id(), new_id()
    return accept_command(
        session, command_id=command_id, type=CommandType.ESCROW_CREATE, escrow_id=escrow_id,
        payer=payer, payee=payee, asset=money.asset, amount=money.amount,
        payload={"payee": payee, "arbiter": arbiter, "amount": plain(money.amount),
                 "asset": money.asset, "release_delay_seconds": release_delay_seconds,
                 "approvals_required": approvals_required})


def request_escrow_action(session: Session, escrow_id: str, kind: CommandType,
                          payload: dict[str, Any]) -> Accepted:
    """Approve, release or refund: the escrow must exist; its guards run in the worker."""
    escrows.load(session, escrow_id)
    return accept_command(session, command_id=new_id(), type=kind, escrow_id=escrow_id,
                          payload=payload)


def request_deposit(session: Session, decimals: Mapping[str, int], *, account_id: str,
                    asset: str, amount: object, command_id: str | None = None) -> Accepted:
    """`command_id` makes the deposit idempotent (a seed run twice deposits once)."""
    money = parse_amount(amount, asset, decimals)
    account = check_account(account_id, "account_id")
    return accept_command(
        session, command_id=command_id or new_id(), type=CommandType.DEPOSIT, payer=None,
        payee=account,
        asset=money.asset, amount=money.amount,
        payload={"account_id": account, "asset": money.asset, "amount": plain(money.amount)})


def submit_settlement_command(
    session: Session, decimals: Mapping[str, int], **fields: Any) -> Accepted:
    """Store a DVP or collateral transfer once (see settlement_command for its fields)."""
    command = settlement_command(decimals, **fields)
    return accept_command(session, command_id=command.command_id, type=command.type,
                          payload=command.payload, **command.columns)


def settlement_command(
    decimals: Mapping[str, int], *, command_id: str, type: str, workflow_id: str,
    account_ref: str, payer: str, payee: str, asset: str, amount: object, deadline: datetime,
    counter_asset: str | None = None, counter_amount: object = None,
) -> NewCommand:
    """A DVP or collateral transfer as it will be stored, or InvalidInput saying why not."""
    kind = CommandType(type)
    if kind not in (CommandType.DVP, CommandType.COLLATERAL_TRANSFER):
        raise InvalidInput("type must be DVP or COLLATERAL_TRANSFER", code="invalid_type",
                           field="type")
    money = parse_amount(amount, asset, decimals)
    payer, payee = check_account(payer, "payer"), check_account(payee, "payee")
    if payer == payee:
        raise InvalidInput("payer and payee must differ", code="payer_is_payee", field="payee")
    counter = None
    if kind is CommandType.DVP:
        if counter_asset is None or counter_amount is None:
            raise InvalidInput("a DVP needs counter_asset and counter_amount (the delivery leg)",
                               code="counter_leg_missing", field="counter_amount")
        check_asset(counter_asset, decimals, field="counter_asset")
        counter = parse_amount(counter_amount, counter_asset, decimals, field="counter_amount")
    elif counter_asset is not None or counter_amount is not None:
        raise InvalidInput("a COLLATERAL_TRANSFER has a single leg", code="unexpected_counter_leg",
                           field="counter_amount")
    payload = {"workflow_id": workflow_id, "account_ref": account_ref, "payer": payer,
               "payee": payee, "asset": money.asset, "amount": plain(money.amount),
               "deadline": deadline.isoformat(),
               "counter_asset": counter.asset if counter else None,
               "counter_amount": plain(counter.amount) if counter else None}
    return NewCommand(command_id, kind, payload, {
        "workflow_id": workflow_id, "account_ref": account_ref, "payer": payer,
        "payee": payee, "asset": money.asset, "amount": money.amount, "deadline": deadline,
        "counter_asset": counter.asset if counter else None,
        "counter_amount": counter.amount if counter else None})


__all__ = ["check_account", "request_deposit", "request_escrow", "request_escrow_action",
           "settlement_command", "submit_settlement_command"]
