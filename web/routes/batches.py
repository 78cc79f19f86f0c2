"""/v1/batches: every batch job (risk recompute, sanctions re-screen, ledger reconciliation),
its progress, and cancelling one (admin scope: these are operators' controls)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel, ConfigDict, Field

from app.services import batches
from web.endpoint import Context, Query, Reply, endpoint

bp = Blueprint("batches", __name__)
ADMIN = "admin"


_BATCH_EXAMPLE: dict[str, Any] = {"id": "risk_recompute:rb-12", "kind": "risk_recompute",
                  "status": "running", "total": 1200, "done": 400, "failed": 0,
                  "created_at": "2026-01-05T09:30:00+00:00",
                  "started_at": "2026-01-05T09:30:00+00:00", "finished_at": None,
                  "detail": {}}


class BatchOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_BATCH_EXAMPLE]})

    id: str = Field(description="`kind:id`")
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
    model_config = ConfigDict(json_schema_extra={"examples": [{"batches": [_BATCH_EXAMPLE]}]})

    batches: list[BatchOut]


@endpoint(bp, "GET", "/v1/batches", scope=ADMIN, response=BatchList,
          summary="Batch jobs, newest first (?kind=risk_recompute|sanctions_rescreen|"
                  "reconciliation, ?status=pending|running|completed|completed_with_failures|"
                  "cancelled, ?limit=)",
          query=(Query("kind", "risk_recompute, sanctions_rescreen or reconciliation"),
                 Query("status", "pending, running, completed, completed_with_failures or "
                                 "cancelled"),
                 Query("limit", "At most this many (default 50)",
                       {"type": "integer", "minimum": 1, "maximum": 1000})))
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
