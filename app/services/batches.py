"""One read model over every batch job: risk recomputes, sanctions re-screens and ledger
reconciliations, with one status vocabulary, and cancelling any of them.

Each kind keeps its own tables and ids (UUIDs, so a bare id names one batch); an id may also
be given qualified by its kind, `risk_recompute:<id>`, which skips the search.

Cancelling marks the batch `cancelled` and its pending chunks `cancelled` in one transaction.
Chunks a worker holds at that moment (row-locked) are skipped, not waited for: they finish as
they would have and count as done, and the batch stays `cancelled`. A chunk task that meets a
cancelled batch later (a redelivery, the sweeper) marks its chunk cancelled and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import Conflict, InvalidInput, NotFound
from app.persistence import reconciliation_store, risk_store
from app.persistence.batch_models import ReconciliationRun
from app.persistence.compliance_models import RescreenRun
from app.persistence.risk_models import RiskBatch
from app.services import reconciliation

RISK_RECOMPUTE = "risk_recompute"
SANCTIONS_RESCREEN = "sanctions_rescreen"
RECONCILIATION = "reconciliation"
KINDS = (RISK_RECOMPUTE, SANCTIONS_RESCREEN, RECONCILIATION)

PENDING, RUNNING, CANCELLED = "pending", "running", "cancelled"
COMPLETED, COMPLETED_WITH_FAILURES = "completed", "completed_with_failures"
STATUSES = (PENDING, RUNNING, COMPLETED, COMPLETED_WITH_FAILURES, CANCELLED)
FINISHED = frozenset({COMPLETED, COMPLETED_WITH_FAILURES, CANCELLED})
MAX_LIMIT = 500

# Each kind's own status → the shared vocabulary.
_STATUS: dict[str, dict[str, str]] = {
    RISK_RECOMPUTE: {"running": RUNNING, "completed": COMPLETED,
                     "completed_with_failures": COMPLETED_WITH_FAILURES,
                     "cancelled": CANCELLED},
    SANCTIONS_RESCREEN: {"planned": PENDING, "running": RUNNING, "completed": COMPLETED,
                         "cancelled": CANCELLED},
    # A check that found breaks (or could not run) is a failed unit, like a failed chunk.
    RECONCILIATION: {"running": RUNNING, "completed": COMPLETED,
                     "completed_with_breaks": COMPLETED_WITH_FAILURES,
                     "completed_with_failures": COMPLETED_WITH_FAILURES,
                     "cancelled": CANCELLED},
}


@dataclass(frozen=True)
class BatchView:
    """A batch of any kind. `total`, `done` and `failed` count the kind's units (accounts,
    parties, invariant checks); `done + failed <= total`, equal once it completed."""

    id: str
    kind: str  # "risk_recompute" | "sanctions_rescreen" | "reconciliation"
    status: str  # pending | running | completed | completed_with_failures | cancelled
    total: int
    done: int
    failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def qualified_id(self) -> str:
        return f"{self.kind}:{self.id}"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "total": self.total,
                "done": self.done, "failed": self.failed,
                "created_at": self.created_at.isoformat(),
                "started_at": self.started_at.isoformat() if self.started_at else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "detail": self.detail}


def _risk_view(b: RiskBatch) -> BatchView:
    return BatchView(
        id=b.batch_id, kind=RISK_RECOMPUTE, status=_STATUS[RISK_RECOMPUTE][b.status],
        total=b.total_accounts, done=b.accounts_done, failed=b.accounts_failed,
        created_at=b.created_at, started_at=b.started_at, finished_at=b.finished_at,
        detail={"unit": "accounts", "scope": b.scope, "asset": b.asset, "trigger": b.trigger,
                "chunks": {"total": b.total_chunks, "done": b.chunks_done,
                           "failed": b.chunks_failed},
                "events_emitted": b.events_emitted})


def _rescreen_view(r: RescreenRun) -> BatchView:
    return BatchView(
        id=r.run_id, kind=SANCTIONS_RESCREEN, status=_STATUS[SANCTIONS_RESCREEN][r.status],
        total=r.total_parties, done=r.parties_done, failed=0,
        created_at=r.created_at, started_at=r.planned_at, finished_at=r.finished_at,
        detail={"unit": "parties", "list_version": r.list_version_id,
                "chunks": {"total": r.chunk_count, "done": r.chunks_done},
                "new_hits": r.new_hits})


def _reconciliation_view(r: ReconciliationRun) -> BatchView:
    return BatchView(
        id=r.run_id, kind=RECONCILIATION, status=_STATUS[RECONCILIATION][r.status],
        total=r.total_checks, done=r.checks_done - r.checks_with_breaks - r.checks_failed,
        failed=r.checks_with_breaks + r.checks_failed,
        created_at=r.created_at, started_at=r.started_at, finished_at=r.finished_at,
        detail={"unit": "checks", "trigger": r.trigger, "breaks": r.breaks_found,
                "checks_with_breaks": r.checks_with_breaks, "checks_failed": r.checks_failed,
                "run_status": r.status})


@dataclass(frozen=True)
class _Kind:
    model: Any
    id_column: Any
    view: Callable[[Any], BatchView]


_KINDS: Mapping[str, _Kind] = {
    RISK_RECOMPUTE: _Kind(RiskBatch, RiskBatch.batch_id, _risk_view),
    SANCTIONS_RESCREEN: _Kind(RescreenRun, RescreenRun.run_id, _rescreen_view),
    RECONCILIATION: _Kind(ReconciliationRun, ReconciliationRun.run_id, _reconciliation_view),
}


def list_batches(session: Session, *, kind: str | None = None, status: str | None = None,
                 limit: int = 50) -> list[BatchView]:
    """Newest first, across kinds (or one kind), optionally only one shared status."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {list(KINDS)}", code="invalid_kind",
                           field="kind")
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status must be one of {list(STATUSES)}", code="invalid_status",
                           field="status")
    limit = max(1, min(limit, MAX_LIMIT))
    views: list[BatchView] = []
    for name in (kind,) if kind else KINDS:
        spec = _KINDS[name]
        query = select(spec.model).order_by(spec.model.created_at.desc(), spec.id_column)
        if status is not None:
            native = [n for n, shared in _STATUS[name].items() if shared == status]
            if not native:
                continue
            query = query.where(spec.model.status.in_(native))
        # The newest `limit` of each kind hold the newest `limit` of all of them.
        views += [spec.view(row) for row in session.scalars(query.limit(limit))]
    views.sort(key=lambda v: (v.created_at, v.id), reverse=True)
    return views[:limit]


def parse_id(batch_id: str) -> tuple[str | None, str]:
    """`kind:id` → (kind, id); a bare id → (None, id)."""
    prefix, sep, rest = batch_id.partition(":")
    if sep and prefix in KINDS:
        return prefix, rest
    return None, batch_id


def _find(session: Session, batch_id: str, *, lock: bool = False) -> tuple[str, Any]:
    kind, raw = parse_id(batch_id)
    found: list[tuple[str, Any]] = []
    for name in (kind,) if kind else KINDS:
        row = session.get(_KINDS[name].model, raw, with_for_update=lock,
                          populate_existing=lock)
        if row is not None:
            found.append((name, row))
    if not found:
        raise NotFound(f"batch {batch_id} not found", code="batch_not_found")
    if len(found) > 1:
        raise Conflict(f"batch id {batch_id} names batches of several kinds; qualify it as "
                       f"<kind>:{raw}", code="batch_id_ambiguous")
    return found[0]


def get_batch(session: Session, batch_id: str) -> BatchView:
    """One batch by its id, bare or kind-qualified; NotFound when no kind has it."""
    name, row = _find(session, batch_id)
    view = _KINDS[name].view(row)
    if name == RECONCILIATION:
        # What an operator opens a run for: which invariants broke, and where.
        view = replace(view, detail={**view.detail,
                                     "checks": reconciliation.checks_of(session, view.id),
                                     "breaks_sample": reconciliation.breaks_of(session, view.id)})
    return view


# Pending chunks a worker is not holding right now; those it holds finish on their own.
_CANCEL_PENDING: Mapping[str, Callable[[Session, str, datetime], None]] = {
    RISK_RECOMPUTE: risk_store.cancel_pending_chunks,
    RECONCILIATION: reconciliation_store.cancel_pending_checks,
}


def cancel_batch(session: Session, batch_id: str, now: datetime) -> BatchView:
    """Stop a batch: no chunk starts after this commits. Conflict if it already finished."""
    name, row = _find(session, batch_id, lock=True)
    view = _KINDS[name].view(row)
    if view.finished:
        raise Conflict(f"batch {view.id} already {view.status}", code="batch_finished")
    row.status, row.finished_at = "cancelled", now
    if name in _CANCEL_PENDING:
        _CANCEL_PENDING[name](session, view.id, now)
    session.flush()
    return _KINDS[name].view(row)


__all__ = ["KINDS", "STATUSES", "BatchView", "cancel_batch", "get_batch", "list_batches",
           "parse_id"]
