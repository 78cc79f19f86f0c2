"""Batch recompute: plan a set of accounts into id-range chunks, run each chunk set-based in
one transaction, and count progress on the batch row.

A chunk's effects (snapshots, events, outbox rows, its `done` status and the batch counters)
commit together, under the chunk row's lock: a chunk whose worker was killed rolls back and
runs again when redelivered; a chunk delivered twice finds itself `done` and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput, NotFound
from app.persistence import risk_store
from app.persistence.models import new_id
from app.persistence.risk_models import RiskBatch, RiskBatchChunk
from app.persistence.risk_store import Selection
from app.services.risk import margin

SCOPES = ("all", "asset")
# A running batch older than this is presumed abandoned by whatever waits on it; its chunks
# are still re-sent by the sweeper.
ACTIVE_WINDOW = timedelta(minutes=10)
TERMINAL = ("completed", "completed_with_failures", "cancelled")


@dataclass(frozen=True, slots=True)
class BatchPlan:
    """What the caller dispatches after commit (nothing when the batch already existed)."""

    batch_id: str
    chunk_nos: tuple[int, ...]
    total_accounts: int
    created: bool


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    batch_id: str
    chunk_no: int
    outcome: str  # done | duplicate | failed | cancelled
    accounts: int = 0
    events: int = 0
    batch_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "chunk_no": self.chunk_no, "outcome": self.outcome,
                "accounts": self.accounts, "events": self.events,
                "batch_status": self.batch_status}


def start_batch(session: Session, *, scope: str, asset: str | None, trigger: str,
                now: datetime, chunk_size: int, request_key: str | None = None,
                skip_empty: bool = False) -> BatchPlan | None:
    """Create a batch and its chunks. Returns None for an empty batch when `skip_empty`."""
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {SCOPES}", code="invalid_scope", field="scope")
    if (scope == "asset") != (asset is not None):
        raise InvalidInput("scope 'asset' needs an asset, scope 'all' takes none",
                           code="invalid_scope", field="asset")
    if request_key is not None:
        existing = session.scalars(select(RiskBatch).where(
            RiskBatch.request_key == request_key)).first()
        if existing is not None:
            return BatchPlan(existing.batch_id, (), existing.total_accounts, created=False)
    ranges = risk_store.plan_chunks(session, Selection(asset=asset), chunk_size)
    if not ranges and skip_empty:
        return None
    batch_id = new_id()
    total = sum(int(r.accounts) for r in ranges)
    inserted = session.execute(
        insert(RiskBatch).values(
            batch_id=batch_id, scope=scope, asset=asset, trigger=trigger,
            request_key=request_key, status="running" if ranges else "completed",
            chunk_size=chunk_size, total_accounts=total, total_chunks=len(ranges),
            chunks_done=0, chunks_failed=0, accounts_done=0, accounts_failed=0,
            # created_at from the same `now` as started_at: the database default is the
            # transaction's start, later than a `now` read before it opened.
            events_emitted=0, created_at=now, started_at=now,
            finished_at=None if ranges else now)
        .on_conflict_do_nothing(index_elements=[RiskBatch.request_key])
        .returning(RiskBatch.batch_id)).scalar_one_or_none()
    if inserted is None:  # the same request_key won a race with us
        winner = session.scalars(select(RiskBatch).where(
            RiskBatch.request_key == request_key)).one()
        return BatchPlan(winner.batch_id, (), winner.total_accounts, created=False)
    if ranges:
        uppers = [r.first_id for r in ranges[1:]] + [None]
        session.execute(insert(RiskBatchChunk), [
            {"batch_id": batch_id, "chunk_no": int(r.chunk_no),
             "lower_bound": r.first_id if r.chunk_no else None, "upper_bound": upper,
             "planned_accounts": int(r.accounts), "status": "pending", "accounts": 0,
             "events": 0, "dispatched_at": now}
            for r, upper in zip(ranges, uppers, strict=True)])
    return BatchPlan(batch_id, tuple(int(r.chunk_no) for r in ranges), total, created=True)


def run_chunk(session: Session, batch_id: str, chunk_no: int, *, now: datetime,
              max_age: timedelta) -> ChunkOutcome:
    chunk = session.get(RiskBatchChunk, (batch_id, chunk_no), with_for_update=True)
    if chunk is None:
        raise NotFound(f"chunk {chunk_no} of batch {batch_id} not found", code="chunk_not_found")
    if chunk.status != "pending":
        return ChunkOutcome(batch_id, chunk_no, "duplicate")
    batch = session.get(RiskBatch, batch_id)
    assert batch is not None  # the chunk's foreign key guarantees it
    if batch.status == "cancelled":  # app.services.batches.cancel_batch
        chunk.status, chunk.finished_at = "cancelled", now
        return ChunkOutcome(batch_id, chunk_no, "cancelled", batch_status=batch.status)
    selection = Selection(lower=chunk.lower_bound, upper=chunk.upper_bound, asset=batch.asset)
    done = margin.recompute(session, selection, now=now, max_age=max_age,
                            cause=f"batch:{batch.trigger}", batch_id=batch_id)
    chunk.status, chunk.accounts, chunk.events = "done", done.accounts, done.events
    chunk.finished_at = now
    status = _count(session, batch_id, now, done=1, accounts=done.accounts, events=done.events)
    return ChunkOutcome(batch_id, chunk_no, "done", done.accounts, done.events, status)


def fail_chunk(session: Session, batch_id: str, chunk_no: int, *, now: datetime,
               error: str) -> ChunkOutcome:
    """Record a chunk that cannot succeed (a bug, bad data), so the batch still finishes."""
    chunk = session.get(RiskBatchChunk, (batch_id, chunk_no), with_for_update=True)
    if chunk is None or chunk.status != "pending":
        return ChunkOutcome(batch_id, chunk_no, "duplicate")
    chunk.status, chunk.error, chunk.finished_at = "failed", error[:2000], now
    status = _count(session, batch_id, now, failed=1, accounts_failed=chunk.planned_accounts)
    return ChunkOutcome(batch_id, chunk_no, "failed", batch_status=status)


def _count(session: Session, batch_id: str, now: datetime, *, done: int = 0, failed: int = 0,
           accounts: int = 0, accounts_failed: int = 0, events: int = 0) -> str:
    return risk_store.count_chunk(session, batch_id, now, done=done, failed=failed,
                                  accounts=accounts, accounts_failed=accounts_failed,
                                  events=events)


def has_active_batch(session: Session, asset: str, now: datetime) -> bool:
    return session.scalar(
        select(RiskBatch.batch_id).where(
            RiskBatch.status == "running", RiskBatch.asset == asset,
            RiskBatch.started_at > now - ACTIVE_WINDOW).limit(1)) is not None


def stray_chunks(session: Session, now: datetime, older_than: timedelta,
                 limit: int = 1000) -> list[tuple[str, int]]:
    """Chunks still pending long after they were sent (the send was lost, or the batch was
    planned by a process that died before dispatching); re-arms them and returns them."""
    rows = session.scalars(
        select(RiskBatchChunk).where(RiskBatchChunk.status == "pending",
                                     RiskBatchChunk.dispatched_at < now - older_than)
        .order_by(RiskBatchChunk.dispatched_at).limit(limit)
        .with_for_update(skip_locked=True)).all()
    for row in rows:
        row.dispatched_at = now
    return [(r.batch_id, r.chunk_no) for r in rows]


def progress(session: Session, batch_id: str, now: datetime) -> dict[str, Any]:
    """total, done, failed, rate (accounts/s) and ETA of a batch."""
    batch = session.get(RiskBatch, batch_id)
    if batch is None:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    elapsed = ((batch.finished_at or now) - batch.started_at).total_seconds()
    processed = batch.accounts_done + batch.accounts_failed
    rate = processed / elapsed if elapsed > 0 else 0.0
    finished = batch.status in TERMINAL
    remaining = 0 if finished else max(batch.total_accounts - processed, 0)
    eta = 0.0 if finished else (remaining / rate if rate > 0 else None)
    return {
        "batch_id": batch.batch_id, "status": batch.status, "scope": batch.scope,
        "asset": batch.asset, "trigger": batch.trigger,
        "total": batch.total_accounts, "done": batch.accounts_done,
        "failed": batch.accounts_failed, "remaining": remaining,
        "chunks": {"total": batch.total_chunks, "done": batch.chunks_done,
                   "failed": batch.chunks_failed},
        "events_emitted": batch.events_emitted,
        "rate_per_second": round(rate, 1), "eta_seconds": None if eta is None else round(eta, 1),
        "elapsed_seconds": round(elapsed, 3),
        "started_at": batch.started_at.isoformat(),
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }
