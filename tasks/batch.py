"""Batch-job tasks of their own (queue `batch`): the ledger reconciliation and its checks.

Risk recompute and sanctions re-screen chunks live with their areas (tasks/risk.py,
tasks/compliance.py); app.services.batches reads and cancels all of them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import group

from app.logs import get_logger
from app.persistence.db import unit_of_work
from app.services import reconciliation
from tasks.celery_app import TRANSIENT_DB_ERRORS, celery_app, fusion_task

log = get_logger(__name__)
# Pending this long after being sent: the send was lost. Well above a busy queue's wait.
STRAY_AFTER = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)


def dispatch_checks(run_id: str, checks: Iterable[str]) -> int:
    """Send a run's checks as one group; the task id makes a re-send of one check a twin."""
    signatures = [celery_app.signature("batch.reconcile_check",
                                       kwargs={"run_id": run_id, "check": name},
                                       task_id=f"reconcile:{run_id}:{name}")
                  for name in checks]
    if signatures:
        group(signatures).apply_async()
    return len(signatures)


@fusion_task("batch.reconcile_ledger")
def reconcile_ledger(trigger: str = "nightly") -> dict[str, Any]:
    """Start a run (the nightly one once per date) and send its pending checks."""
    now = _now()
    key = f"nightly:{now.date().isoformat()}" if trigger == "nightly" else None
    with unit_of_work() as session:
        plan = reconciliation.start_run(session, trigger=trigger, now=now, request_key=key)
    return {"run_id": plan.run_id, "checks_sent": dispatch_checks(plan.run_id, plan.checks)}


# One check scans a whole table: it gets CELERY_LONG_TASK_TIME_LIMIT (celeryconfig.LONG_TASKS),
# which the worker's start-up check keeps, with the retry countdown, under the visibility
# timeout, so Redis does not hand a running check to a second worker. A check that still runs
# out of time ends failed, and that alerts like a break.
@fusion_task("batch.reconcile_check")
def reconcile_check(run_id: str, check: str) -> dict[str, Any]:
    try:
        with unit_of_work() as session:
            return reconciliation.run_check(session, run_id, check, _now())
    except TRANSIENT_DB_ERRORS:
        raise  # retried by the base task; the check rolled back whole
    except Exception as exc:  # a bug or a timeout: end the check failed, which alerts
        log.exception("reconciliation.check_failed", run_id=run_id, check=check)
        with unit_of_work() as session:
            return reconciliation.fail_check(session, run_id, check, _now(),
                                             error=f"{type(exc).__name__}: {exc}")


@fusion_task("batch.reconcile_sweep")
def reconcile_sweep() -> dict[str, Any]:
    """Re-send checks whose message was lost."""
    with unit_of_work() as session:
        stray = reconciliation.stray_checks(session, _now(), STRAY_AFTER)
    for run_id, name in stray:
        dispatch_checks(run_id, [name])
    return {"checks": len(stray)}
