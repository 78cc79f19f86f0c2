"""/v1/settlement/commands, /v1/ledger and /v1/tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery.result import AsyncResult
from flask import Blueprint, request

from app.domain.errors import NotFound
from app.services import command_batches, intake, ledger
from app.services.commands import get_command
from tasks.celery_app import celery_app
from tasks.senders import send_command_task, send_settle_batch
from web.endpoint import Context, Query, Reply, endpoint
from web.routes.batch_views import (
    SETTLE_BATCH_SIZE,
    batch_accepted,
    batch_view,
    parse_items,
)
from web.routes.views import accepted, balance_view, command_body
from web.schemas import (
    COLLATERAL_EXAMPLE,
    DVP_EXAMPLE,
    AcceptedResponse,
    AccountView,
    BatchAcceptedResponse,
    BatchView,
    CommandView,
    Deposit,
    SettlementCommand,
    SettlementCommandBatch,
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


@endpoint(bp, "POST", "/v1/settlement/command-batches", scope=WRITE, body=SettlementCommandBatch,
          response=BatchAcceptedResponse, status=202, operation_id="createCommandBatch",
          summary="Submit up to 1,000 settlement commands at once; each item is accepted or "
                  "rejected on its own")
def submit_command_batch(ctx: Context, body: SettlementCommandBatch) -> Reply:
    items, problems = parse_items(body.commands)
    submission = command_batches.submit_batch(ctx.session, ctx.settings.asset_decimals, items,
                                              len(body.commands))
    for start in range(0, len(submission.created), SETTLE_BATCH_SIZE):
        ctx.after_commit(send_settle_batch, submission.created[start:start + SETTLE_BATCH_SIZE],
                         submission.batch_id)
    return Reply(202, batch_accepted(submission, body.commands, problems))


@endpoint(bp, "GET", "/v1/settlement/command-batches/{batch_id}", scope=READ,
          response=BatchView, operation_id="getCommandBatch",
          query=(Query("limit", "Items per page (default 100)",
                       {"type": "integer", "minimum": 1, "maximum": 1000}),
                 Query("cursor", "`next_cursor` of the previous page")),
          summary="A batch's counts per command status and its items' outcomes "
                  "(?limit=, ?cursor=)")
def get_command_batch(ctx: Context, batch_id: str) -> Reply:
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 1000)
    cursor = request.args.get("cursor", "")
    after = int(cursor) if cursor.isdigit() else -1
    summary, items = command_batches.batch_progress(ctx.session, batch_id, after=after,
                                                    limit=limit)
    return Reply(200, batch_view(summary, items, limit))


@endpoint(bp, "GET", "/v1/settlement/commands/{command_id}", scope=READ, response=CommandView,
          summary="A command's status, reason and timestamps")
def get_settlement_command(ctx: Context, command_id: str) -> Reply:
    """Status moves forward only: received → validated → settling → settled | failed; a
    failed command carries `reason` and `reason_detail`; a held one says in `next_retry_at`
    when the sweeper retries it."""
    sweep_after = timedelta(seconds=ctx.settings.command_sweep_after_seconds)
    return Reply(200, command_body(get_command(ctx.session, command_id), sweep_after))


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
