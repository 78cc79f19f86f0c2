"""/v1/batches: every batch job (risk recompute, sanctions re-screen, ledger reconciliation),
its progress, and cancelling one (admin scope: these are operators' controls)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel

from app.services import batches
from web.endpoint import Context, Reply, endpoint

bp = Blueprint("batches", __name__)
ADMIN = "admin"


class BatchOut(BaseModel):
    id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    detail: dict[str, Any]


class BatchList(BaseModel):
    batches: list[BatchOut]


@endpoint(bp, "GET", "/v1/batches", scope=ADMIN, response=BatchList,
          summary="Batch jobs, newest first (?kind=risk_recompute|sanctions_rescreen|"
                  "reconciliation, ?status=pending|running|completed|completed_with_failures|"
                  "cancelled, ?limit=)")
def list_batches(ctx: Context) -> Reply:
    views = batches.list_batches(ctx.session, kind=request.args.get("kind") or None,
                                 status=request.args.get("status") or None,
                                 limit=request.args.get("limit", 50, type=int) or 50)
    return Reply(200, {"batches": [v.as_dict() for v in views]})


@endpoint(bp, "GET", "/v1/batches/{batch_id}", scope=ADMIN, response=BatchOut,
          summary="One batch's progress; an id may be qualified by its kind (`kind:id`)")
def get_batch(ctx: Context, batch_id: str) -> Reply:
    return Reply(200, batches.get_batch(ctx.session, batch_id).as_dict())


@endpoint(bp, "POST", "/v1/batches/{batch_id}/cancel", scope=ADMIN, response=BatchOut,
          summary="Cancel a batch (no body): no further chunk runs; 409 if it already finished")
def cancel_batch(ctx: Context, batch_id: str) -> Reply:
    return Reply(200, batches.cancel_batch(ctx.session, batch_id, datetime.now(UTC)).as_dict())
