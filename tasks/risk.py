"""risk tasks (queue `risk`, and `batch` for batch chunks): decode, call one service in one
unit of work, send follow-up tasks only after it committed."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task, group

from app.config import get_settings
from app.domain.errors import DomainError
from app.logs import get_logger
from app.persistence.db import unit_of_work
from app.services.risk import batch, calculations, escrows, margin, prices
from tasks.celery_app import TRANSIENT_DB_ERRORS, celery_app, fusion_task

log = get_logger(__name__)
# While a batch for the asset still runs, its queued recompute waits this long between looks;
# the cap covers ACTIVE_WINDOW (10 min), after which a running batch no longer blocks.
DEFER_SECONDS = 1
MAX_DEFERRALS = 700
# Pending this long after being sent: the send was lost. Well above a busy queue's wait.
STRAY_AFTER = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def _max_age() -> timedelta:
    return timedelta(seconds=get_settings().price_max_age_seconds)


def send_margin_recompute(account_id: str, cause: str = "request",
                          task_id: str | None = None) -> str:
    task_id = task_id or f"risk-margin:{account_id}:{uuid.uuid4().hex[:12]}"
    celery_app.send_task("risk.recompute_margin", task_id=task_id,
                         kwargs={"account_id": account_id, "cause": cause})
    return task_id


def send_asset_recompute(asset: str, seq: int) -> None:
    celery_app.send_task("risk.recompute_asset", task_id=f"risk-asset:{asset}:{seq}",
                         kwargs={"asset": asset, "seq": seq})


def send_calculation(calculation_id: str) -> None:
    celery_app.send_task("risk.calculate", task_id=f"risk-calculation:{calculation_id}",
                         kwargs={"calculation_id": calculation_id})


def dispatch_chunks(batch_id: str, chunk_nos: Iterable[int], queue: str | None = None) -> int:
    """Send a batch's chunks as one Celery group on the `batch` queue (or `queue`)."""
    options: dict[str, Any] = {"queue": queue} if queue else {}
    signatures = [
        celery_app.signature("batch.risk_recompute_chunk",
                             kwargs={"batch_id": batch_id, "chunk_no": n},
                             task_id=f"risk-chunk:{batch_id}:{n}", **options)
        for n in chunk_nos]
    if signatures:
        group(signatures).apply_async()
    return len(signatures)


@fusion_task("risk.apply_price")
def apply_price(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    try:
        with unit_of_work() as session:
            outcome = prices.record_price_event(session, event["data"], _now())
    except DomainError as refusal:  # a tick from the future: refusing it again will not help
        return {"dedup_key": event["dedup_key"], "outcome": "rejected", "reason": refusal.code}
    if outcome.recompute_seq is not None:
        send_asset_recompute(outcome.asset, outcome.recompute_seq)
    return {"dedup_key": event["dedup_key"], **outcome.as_dict()}


@fusion_task("risk.recompute_asset", bind=True, max_retries=MAX_DEFERRALS)
def recompute_asset(self: Task, asset: str, seq: int | None = None) -> dict[str, Any]:
    with unit_of_work() as session:
        claim = prices.claim_recompute(session, asset, now=_now(),
                                       chunk_size=get_settings().risk_batch_chunk_size)
    if claim.outcome == "deferred":
        raise self.retry(countdown=DEFER_SECONDS)
    if claim.plan is not None and claim.plan.created:
        dispatch_chunks(claim.plan.batch_id, claim.plan.chunk_nos)
    return {"asset": asset, **claim.as_dict()}


@fusion_task("risk.apply_escrow_event")
def apply_escrow_event(event: dict[str, Any], message_id: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    with unit_of_work() as session:
        outcome = escrows.apply_escrow_event(session, event, _now(), settings.asset_decimals,
                                             settings.chain_escrow_asset)
    if outcome.account_id is not None:
        send_margin_recompute(outcome.account_id, cause="escrow")
    return {"dedup_key": event["dedup_key"], **outcome.as_dict()}


@fusion_task("risk.recompute_margin")
def recompute_margin(account_id: str, cause: str = "request") -> dict[str, Any]:
    with unit_of_work() as session:
        result = margin.recompute_account(session, account_id, now=_now(), max_age=_max_age(),
                                          cause=cause)
    return {"account_id": account_id, "status": result.health.status.value}


@fusion_task("risk.calculate")
def calculate(calculation_id: str) -> dict[str, Any]:
    try:
        with unit_of_work() as session:
            status = calculations.run_calculation(session, calculation_id, now=_now(),
                                                  max_age=_max_age())
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as exc:  # stored as failed, so the sweeper does not re-send it forever
        log.exception("risk.calculation_failed", calculation_id=calculation_id)
        with unit_of_work() as session:
            calculations.fail_calculation(session, calculation_id, now=_now(),
                                          error=f"{type(exc).__name__}: {exc}")
        status = "failed"
    return {"calculation_id": calculation_id, "status": status}


@fusion_task("batch.risk_recompute_chunk")
def recompute_chunk(batch_id: str, chunk_no: int) -> dict[str, Any]:
    try:
        with unit_of_work() as session:
            outcome = batch.run_chunk(session, batch_id, chunk_no, now=_now(),
                                      max_age=_max_age())
    except TRANSIENT_DB_ERRORS:
        raise  # retried by the base task; the chunk rolled back whole
    except Exception as exc:  # a bug or bad data: count the chunk failed so the batch ends
        log.exception("risk.chunk_failed", batch_id=batch_id, chunk_no=chunk_no)
        with unit_of_work() as session:
            outcome = batch.fail_chunk(session, batch_id, chunk_no, now=_now(),
                                       error=f"{type(exc).__name__}: {exc}")
    return outcome.as_dict()


@fusion_task("batch.risk_nightly")
def nightly_recompute() -> dict[str, Any]:
    """Recompute every account; the date makes a second trigger the same night a no-op."""
    now = _now()
    with unit_of_work() as session:
        plan = batch.start_batch(session, scope="all", asset=None, trigger="nightly", now=now,
                                 chunk_size=get_settings().risk_batch_chunk_size,
                                 request_key=f"nightly:{now.date().isoformat()}")
    assert plan is not None  # only skip_empty batches come back empty
    sent = dispatch_chunks(plan.batch_id, plan.chunk_nos) if plan.created else 0
    return {"batch_id": plan.batch_id, "chunks_sent": sent}


@fusion_task("risk.sweep")
def sweep() -> dict[str, Any]:
    """Re-send what a lost message left waiting: batch chunks, asset recomputes, calculations."""
    now = _now()
    with unit_of_work() as session:
        chunks = batch.stray_chunks(session, now, STRAY_AFTER)
        assets = prices.stray_requests(session, now)
        pending = calculations.stray_calculations(session, now, STRAY_AFTER)
    by_batch: dict[str, list[int]] = {}
    for batch_id, chunk_no in chunks:
        by_batch.setdefault(batch_id, []).append(chunk_no)
    for batch_id, chunk_nos in by_batch.items():
        dispatch_chunks(batch_id, chunk_nos)
    for asset, seq in assets:
        send_asset_recompute(asset, seq)
    for calculation_id in pending:
        send_calculation(calculation_id)
    return {"chunks": len(chunks), "assets": len(assets), "calculations": len(pending)}


# A run deletes at most this many batches of snapshots; the next night continues.
PRUNE_ROUNDS = 200


@fusion_task("risk.prune_snapshots")
def prune_snapshots() -> dict[str, Any]:
    """Nightly: snapshots past RISK_SNAPSHOT_RETENTION_DAYS, one short transaction per batch."""
    from app.services.risk.retention import PRUNE_BATCH  # noqa: PLC0415
    from app.services.risk.retention import prune_snapshots as prune  # noqa: PLC0415

    days, now, deleted = get_settings().risk_snapshot_retention_days, _now(), 0
    for _ in range(PRUNE_ROUNDS):
        with unit_of_work() as session:
            removed = prune(session, now, days)
        deleted += removed
        if removed < PRUNE_BATCH:
            break
    return {"deleted": deleted, "retention_days": days}
