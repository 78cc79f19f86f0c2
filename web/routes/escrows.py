"""/v1/escrows: create, read, approve, release, refund."""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import select

from app.domain.commands import CommandType
from app.domain.errors import NotFound
from app.persistence.models import Command, EscrowRecord
from app.services import escrows, intake
from app.services.commands import Accepted
from tasks.celery_app import send_command_task
from web.endpoint import Context, Reply, endpoint
from web.routes.views import accepted, escrow_view, pending_escrow_view
from web.schemas import AcceptedResponse, Approve, CreateEscrow, EscrowView, Refund, Release

bp = Blueprint("escrows", __name__)
WRITE, READ = "settlement:write", "settlement:read"
RECENT_COMMANDS = 20


def _dispatch(ctx: Context, result: Accepted) -> Reply:
    if result.created:
        ctx.after_commit(send_command_task, result.task_name, result.command_id)
    return accepted(result)


@endpoint(bp, "POST", "/v1/escrows", scope=WRITE, body=CreateEscrow, response=AcceptedResponse,
          status=202, summary="Request a new escrow, funded by a hold on the payer's balance")
def create_escrow(ctx: Context, body: CreateEscrow) -> Reply:
    """Queues an escrow_create command. The worker holds `amount` on the payer's available
    balance (refused with insufficient_funds otherwise); the answer's escrow_url shows the
    escrow, pending until then."""
    return _dispatch(ctx, intake.request_escrow(ctx.session, ctx.settings.asset_decimals,
                                                **body.model_dump()))


@endpoint(bp, "GET", "/v1/escrows/{escrow_id}", scope=READ, response=EscrowView,
          summary="An escrow with its approvals and its recent commands (and their reasons)")
def get_escrow(ctx: Context, escrow_id: str) -> Reply:
    """Status: pending (creation not run yet), created, approved, released, refunded, or
    failed (creation refused: `reason` says why)."""
    commands = list(ctx.session.scalars(
        select(Command).where(Command.escrow_id == escrow_id)
        .order_by(Command.received_at.desc()).limit(RECENT_COMMANDS)))
    decimals = ctx.settings.asset_decimals
    record = ctx.session.get(EscrowRecord, escrow_id)
    if record is not None:
        approvals = escrows.approvers_of(ctx.session, escrow_id)
        return Reply(200, escrow_view(record, approvals, commands, decimals))
    create = next((c for c in commands if c.type == CommandType.ESCROW_CREATE.value), None)
    if create is None:
        raise NotFound(f"escrow {escrow_id} not found", code="escrow_not_found")
    return Reply(200, pending_escrow_view(escrow_id, create, commands, decimals))


@endpoint(bp, "POST", "/v1/escrows/{escrow_id}/approvals", scope=WRITE, body=Approve,
          response=AcceptedResponse, status=202, summary="Approve (payer, payee or arbiter)")
def approve_escrow(ctx: Context, body: Approve, escrow_id: str) -> Reply:
    """Each approver counts once; the escrow is approved when approvals_required is met."""
    payload = {"approver": intake.check_account(body.approver, "approver")}
    return _dispatch(ctx, intake.request_escrow_action(
        ctx.session, escrow_id, CommandType.ESCROW_APPROVE, payload))


@endpoint(bp, "POST", "/v1/escrows/{escrow_id}/release", scope=WRITE, body=Release,
          response=AcceptedResponse, status=202, summary="Release an approved escrow to the payee")
def release_escrow(ctx: Context, body: Release, escrow_id: str) -> Reply:
    """Allowed once approved and past the release time, with the compliance gate clear for
    payer and payee; posts the held amount to the payee. Send `{}` as the body."""
    return _dispatch(ctx, intake.request_escrow_action(
        ctx.session, escrow_id, CommandType.ESCROW_RELEASE, {}))


@endpoint(bp, "POST", "/v1/escrows/{escrow_id}/refund", scope=WRITE, body=Refund,
          response=AcceptedResponse, status=202, summary="Refund to the payer after the grace")
def refund_escrow(ctx: Context, body: Refund, escrow_id: str) -> Reply:
    """Only the payer, and only after the release time plus the refund grace; voids the
    hold."""
    payload = {"requested_by": intake.check_account(body.requested_by, "requested_by")}
    return _dispatch(ctx, intake.request_escrow_action(
        ctx.session, escrow_id, CommandType.ESCROW_REFUND, payload))
