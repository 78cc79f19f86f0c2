"""Ledger reconciliation: a batch whose chunks are the ledger's invariants (see
app/domain/reconciliation.py), each checked by one set-based query over every account.

A check's breaks, its `done` status, the run's counters and, when it found breaks or failed,
its alert commit in one transaction under the check row's lock: a redelivered check changes
nothing, and a check killed midway runs again whole. The alert is a compliance alert of kind
`ledger_break` (the operators' alert queue: GET /v1/compliance/aml-alerts?kind=ledger_break)
and a `ledger.reconciliation_failed` event on settlement.results.v1 through the outbox.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain import reconciliation as rules
from app.domain.compliance.alerts import AlertKind
from app.domain.errors import NotFound
from app.persistence import reconciliation_store
from app.persistence.batch_models import (
    ReconciliationBreak,
    ReconciliationCheck,
    ReconciliationRun,
)
from app.persistence.models import new_id
from app.services import escrows
from app.services.compliance.alerts import open_alert
from app.services.outbox import SETTLEMENT_RESULTS, record_event

ALERT_PARTY = "ledger"
ALERT_EVENT = "ledger.reconciliation_failed"
# The release transfer's id is `<prefix><escrow id><suffix>`; split once so SQL builds it.
_RELEASE_PREFIX, _RELEASE_SUFFIX = escrows.release_transfer_id("\x00").split("\x00")


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What the caller dispatches after commit: the checks still pending."""

    run_id: str
    checks: tuple[str, ...]
    created: bool


def start_run(session: Session, *, trigger: str, now: datetime,
              request_key: str | None = None) -> RunPlan:
    """A new run with one pending check per invariant; for a known `request_key`, the
    existing run and whichever of its checks are still pending (to send again)."""
    run_id = new_id()
    inserted = session.execute(
        insert(ReconciliationRun).values(
            run_id=run_id, trigger=trigger, request_key=request_key, status="running",
            total_checks=len(rules.CHECKS), checks_done=0, checks_with_breaks=0,
            # created_at from the same `now` as started_at: the database default is the
            # transaction's start, later than a `now` read before it opened.
            checks_failed=0, breaks_found=0, created_at=now, started_at=now)
        .on_conflict_do_nothing(index_elements=[ReconciliationRun.request_key])
        .returning(ReconciliationRun.run_id)).scalar_one_or_none()
    if inserted is None:
        existing = session.scalars(select(ReconciliationRun.run_id).where(
            ReconciliationRun.request_key == request_key)).one()
        pending = session.scalars(select(ReconciliationCheck.name).where(
            ReconciliationCheck.run_id == existing, ReconciliationCheck.status == "pending")
            .order_by(ReconciliationCheck.name)).all()
        return RunPlan(existing, tuple(pending), created=False)
    session.execute(insert(ReconciliationCheck), [
        {"run_id": run_id, "name": name, "status": "pending", "breaks": 0, "dispatched_at": now}
        for name in rules.CHECK_NAMES])
    return RunPlan(run_id, rules.CHECK_NAMES, created=True)


def _locked_check(session: Session, run_id: str, name: str) -> ReconciliationCheck:
    check = session.get(ReconciliationCheck, (run_id, name), with_for_update=True)
    if check is None:
        raise NotFound(f"check {name} of run {run_id} not found", code="check_not_found")
    return check


def run_check(session: Session, run_id: str, name: str, now: datetime) -> dict[str, Any]:
    """Check one invariant over the whole ledger, record its breaks, alert on any."""
    check = _locked_check(session, run_id, name)
    if check.status != "pending":
        return {"run_id": run_id, "check": name, "outcome": "duplicate"}
    run = session.get(ReconciliationRun, run_id)
    assert run is not None  # the check's foreign key guarantees it
    if run.status == "cancelled":  # app.services.batches.cancel_batch
        check.status, check.finished_at = "cancelled", now
        return {"run_id": run_id, "check": name, "outcome": "cancelled"}
    breaks, kinds = reconciliation_store.run_check(
        session, name, run_id=run_id, cap=rules.MAX_RECORDED_BREAKS,
        release_prefix=_RELEASE_PREFIX, release_suffix=_RELEASE_SUFFIX)
    check.status, check.breaks, check.finished_at = "done", breaks, now
    if check.breaks:
        check.alert_id = _alert(session, run_id, name, breaks=check.breaks, kinds=kinds,
                                error=None)
    status = _count(session, run_id, now, breaks=check.breaks, failed=False)
    return {"run_id": run_id, "check": name, "outcome": "done", "breaks": check.breaks,
            "kinds": kinds, "run_status": status}


def fail_check(session: Session, run_id: str, name: str, now: datetime,
               error: str) -> dict[str, Any]:
    """A check that cannot run (a bug, a timeout) ends failed, and says so to an operator:
    an invariant nobody verified is not a clean ledger."""
    check = _locked_check(session, run_id, name)
    if check.status != "pending":
        return {"run_id": run_id, "check": name, "outcome": "duplicate"}
    check.status, check.error, check.finished_at = "failed", error[:2000], now
    check.alert_id = _alert(session, run_id, name, breaks=0, kinds={}, error=error[:500])
    status = _count(session, run_id, now, breaks=0, failed=True)
    return {"run_id": run_id, "check": name, "outcome": "failed", "run_status": status}


def _count(session: Session, run_id: str, now: datetime, *, breaks: int, failed: bool) -> str:
    # Locked after the check row (cancel locks the run, then skips locked checks: no cycle).
    run = session.get(ReconciliationRun, run_id, with_for_update=True, populate_existing=True)
    assert run is not None
    run.checks_done += 1
    run.checks_with_breaks += int(breaks > 0)
    run.checks_failed += int(failed)
    run.breaks_found += breaks
    status = rules.run_status(finished=run.checks_done, total=run.total_checks,
                              with_breaks=run.checks_with_breaks, failed=run.checks_failed,
                              cancelled=run.status == "cancelled")
    if status != run.status:
        run.status, run.finished_at = status, now
    return status


def _alert(session: Session, run_id: str, name: str, *, breaks: int, kinds: dict[str, int],
           error: str | None) -> str:
    summary = rules.alert_summary(name, breaks, kinds, error)
    details = {"run_id": run_id, "check": name, "breaks": breaks, "kinds": kinds,
               "error": error, "summary": summary,
               "asserts": rules.BY_NAME[name].asserts}
    alert_id = open_alert(session, dedup_key=f"reconciliation:{run_id}:{name}",
                          kind=AlertKind.LEDGER_BREAK, party=ALERT_PARTY, level="high",
                          details=details)
    record_event(session, topic=SETTLEMENT_RESULTS, event_type=ALERT_EVENT,
                 aggregate_id=run_id, data={**details, "alert_id": alert_id})
    return alert_id


def stray_checks(session: Session, now: datetime, older_than: timedelta,
                 limit: int = 100) -> list[tuple[str, str]]:
    """Checks still pending long after they were sent (the send was lost); re-armed."""
    rows = session.scalars(
        select(ReconciliationCheck).where(ReconciliationCheck.status == "pending",
                                          ReconciliationCheck.dispatched_at < now - older_than)
        .order_by(ReconciliationCheck.dispatched_at).limit(limit)
        .with_for_update(skip_locked=True)).all()
    for row in rows:
        row.dispatched_at = now
    return [(r.run_id, r.name) for r in rows]


def checks_of(session: Session, run_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(ReconciliationCheck).where(
        ReconciliationCheck.run_id == run_id).order_by(ReconciliationCheck.name))
    return [{"name": c.name, "status": c.status, "breaks": c.breaks, "error": c.error,
             "alert_id": c.alert_id} for c in rows]


def breaks_of(session: Session, run_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(select(ReconciliationBreak).where(
        ReconciliationBreak.run_id == run_id).order_by(ReconciliationBreak.id).limit(limit))
    return [{"check": b.check_name, "kind": b.kind, "asset": b.asset,
             "account_id": b.account_id, "transfer_id": b.transfer_id,
             "escrow_id": b.escrow_id, "expected": b.expected, "actual": b.actual,
             "detail": b.detail} for b in rows]


def break_kinds(session: Session, run_id: str) -> dict[str, int]:
    """Recorded breaks by kind (capped per check; the run's `breaks_found` is exact)."""
    rows = session.scalars(select(ReconciliationBreak.kind).where(
        ReconciliationBreak.run_id == run_id))
    return dict(Counter(rows))
