"""/v1/settlement/commands, /v1/ledger and /v1/tasks."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from flask import Blueprint

from app.domain.errors import NotFound
from app.services import intake, ledger
from app.services.commands import get_command
from tasks.celery_app import celery_app, send_command_task
from web.endpoint import Context, Reply, endpoint
from web.routes.views import accepted, balance_view, command_view
from web.schemas import (
    COLLATERAL_EXAMPLE,
    DVP_EXAMPLE,
    AcceptedResponse,
    AccountView,
    CommandView,
    Deposit,
    SettlementCommand,
    TaskView,
)

bp = Blueprint("settlement", __name__)
WRITE, READ = "settlement:write", "settlement:read"


@endpoint(bp, "POST", "/v1/settlement/commands", scope=WRITE, body=SettlementCommand,
          response=AcceptedResponse, status=202,
          summary="Submit a DVP or collateral transfer; command_id is its idempotency key",
          operation_id="submitSettlementCommand",
          examples={"DVP with its counter leg": DVP_EXAMPLE,
                    "Collateral transfer": COLLATERAL_EXAMPLE})
def submit_command(ctx: Context, body: SettlementCommand) -> Reply:
    """Stores the command and queues it. A worker validates it (accounts, assets, the
    compliance gate on both parties, the deadline) and settles it: a DVP moves `amount` of
    `asset` from payer to payee and `counter_amount` of `counter_asset` back, both legs or
    neither. Sending the same command_id again returns the first answer."""
    result = intake.submit_settlement_command(ctx.session, ctx.settings.asset_decimals,
                                              **body.model_dump())
    if result.created:
        ctx.after_commit(send_command_task, result.task_name, result.command_id)
    return accepted(result)


@endpoint(bp, "GET", "/v1/settlement/commands/{command_id}", scope=READ, response=CommandView,
          summary="A command's status, reason and timestamps")
def get_settlement_command(ctx: Context, command_id: str) -> Reply:
    """Status moves forward only: received → validated → settling → settled | failed; a
    failed command carries `reason` and `reason_detail`."""
    return Reply(200, command_view(get_command(ctx.session, command_id)).model_dump(mode="json"))


@endpoint(bp, "POST", "/v1/ledger/deposits", scope=WRITE, body=Deposit,
          response=AcceptedResponse, status=202,
          summary="Fund a customer account from the external bank account of the asset",
          operation_id="createDeposit")
def deposit(ctx: Context, body: Deposit) -> Reply:
    """Queues a deposit command: the worker credits the account from `external:bank:<asset>`.
    Follow status_url until it is settled; the balance is then posted."""
    result = intake.request_deposit(ctx.session, ctx.settings.asset_decimals, **body.model_dump())
    ctx.after_commit(send_command_task, result.task_name, result.command_id)
    return accepted(result)


@endpoint(bp, "GET", "/v1/ledger/accounts/{account_id}", scope=READ, response=AccountView,
          summary="Posted, pending and available balances per asset",
          operation_id="getLedgerAccount")
def get_account(ctx: Context, account_id: str) -> Reply:
    """`available` is posted minus pending debits (escrow holds, settling legs)."""
    balances = ledger.account_balances(ctx.session, account_id)
    if not balances:
        raise NotFound(f"account {account_id} has no balances", code="account_not_found")
    decimals = ctx.settings.asset_decimals
    view = AccountView(account_id=account_id,
                       balances=[balance_view(b, decimals) for b in balances])
    return Reply(200, view.model_dump(mode="json"))


@endpoint(bp, "GET", "/v1/tasks/{task_id}", scope=READ, response=TaskView,
          summary="A task's state and result from the result backend")
def get_task(ctx: Context, task_id: str) -> Reply:
    """PENDING also means unknown: the result backend keeps results for a limited time."""
    result = AsyncResult(task_id, app=celery_app)
    view: dict[str, Any] = {"task_id": task_id, "state": result.state}
    if result.state == "SUCCESS" and isinstance(result.result, dict):
        view["result"] = result.result
    elif result.state in ("FAILURE", "RETRY"):
        view["error"] = f"{type(result.result).__name__}: {result.result}"[:500]
    return Reply(200, TaskView.model_validate(view).model_dump(mode="json"))
