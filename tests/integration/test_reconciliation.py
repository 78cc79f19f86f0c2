"""Ledger reconciliation on a real worker: clean after real settlements, and each invariant
caught when a ledger row is corrupted behind the service's back, with its alert raised."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text

from app.domain.commands import CommandType
from app.persistence.batch_models import ReconciliationBreak, ReconciliationRun
from app.persistence.compliance_models import ComplianceAlert
from app.persistence.db import unit_of_work
from app.persistence.models import OutboxEvent
from tests.integration.conftest import fund, party, wait_for_command
from tests.integration.test_settlement_tasks import action, new_escrow
from tests.support import Worker, wait_for

pytestmark = pytest.mark.integration
NO_OVERDRAFT = ("NOT no_overdraft OR credits_posted - debits_posted - debits_pending >= 0")


@pytest.fixture(scope="module")
def ledger(worker: Worker) -> dict[str, str]:
    """Real settlements through the worker: a deposit, a released, a refunded and an open
    escrow."""
    from tasks.celery_app import send_command_task  # noqa: PLC0415

    def run(task: str, command_id: str) -> dict[str, Any]:
        send_command_task(task, command_id)
        return wait_for_command(command_id)

    released = new_escrow(run)
    assert run("settlement.approve_escrow", action(
        released["escrow_id"], CommandType.ESCROW_APPROVE, approver=released["payer"]),
    )["status"] == "settled"
    assert run("settlement.release_escrow", action(
        released["escrow_id"], CommandType.ESCROW_RELEASE))["status"] == "settled"
    refunded = new_escrow(run)
    # Refunds open ESCROW_REFUND_GRACE_SECONDS (1 s in tests) after the release time.
    wait_for(lambda: run("settlement.refund_escrow", action(
        refunded["escrow_id"], CommandType.ESCROW_REFUND, requested_by=refunded["payer"]),
    )["status"] == "settled", timeout=20, interval=0.5, what="refund allowed")
    held = new_escrow(run)
    depositor = party("depositor")
    fund(depositor, "250.00")
    return {"released": released["escrow_id"], "payee": released["payee"],
            "payer": released["payer"], "refunded": refunded["escrow_id"],
            "held": held["escrow_id"], "held_payer": held["payer"], "depositor": depositor}


def reconcile() -> ReconciliationRun:
    """A run through the worker (one task per check), waited for in Postgres."""
    from app.services import reconciliation  # noqa: PLC0415
    from tasks.batch import dispatch_checks  # noqa: PLC0415

    with unit_of_work() as session:
        plan = reconciliation.start_run(session, trigger="test", now=datetime.now(UTC))
    assert dispatch_checks(plan.run_id, plan.checks) == 5

    def finished() -> ReconciliationRun | None:
        with unit_of_work() as session:
            run = session.get(ReconciliationRun, plan.run_id)
            return run if run is not None and run.status != "running" else None

    return wait_for(finished, timeout=60, what="reconciliation run")


def breaks(run_id: str, check: str) -> list[ReconciliationBreak]:
    with unit_of_work() as session:
        return list(session.scalars(select(ReconciliationBreak).where(
            ReconciliationBreak.run_id == run_id, ReconciliationBreak.check_name == check)))


@contextmanager
def corrupted(*statements: str, restore: tuple[str, ...],
              params: dict[str, Any]) -> Iterator[None]:
    """Apply raw SQL behind the ledger service's back; undo it whatever the test does."""
    with unit_of_work() as session:
        for statement in statements:
            session.execute(text(statement), params)
    try:
        yield
    finally:
        with unit_of_work() as session:
            for statement in restore:
                session.execute(text(statement), params)


def test_a_clean_ledger_after_real_settlements_passes(ledger: dict[str, str]) -> None:
    run = reconcile()
    assert (run.status, run.checks_done, run.breaks_found) == ("completed", 5, 0)
    with unit_of_work() as session:
        alerts = session.scalars(select(ComplianceAlert).where(
            ComplianceAlert.dedup_key.like(f"reconciliation:{run.run_id}:%"))).all()
    assert alerts == []


def _deposit_transfer(account: str) -> str:
    with unit_of_work() as session:
        return str(session.execute(text(
            "SELECT transfer_id FROM ledger_transfers WHERE credit_account = :a "
            "AND debit_account LIKE 'external:%'"), {"a": account}).scalar_one())


# (test id, check, break kind, corrupting SQL, restoring SQL, the column naming the broken
# row and its values, as the ledger fixture's keys or literals)
CASES: list[tuple[str, str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    ("balance_edited", "asset_sums", "asset_posted_sum_nonzero",
     ("UPDATE ledger_balances SET credits_posted = credits_posted + 5 "
      "WHERE account_id = :depositor AND asset = 'USD'",),
     ("UPDATE ledger_balances SET credits_posted = credits_posted - 5 "
      "WHERE account_id = :depositor AND asset = 'USD'",), ("asset", "=USD")),
    ("overdrawn_customer", "no_overdraft", "overdraft",
     ("ALTER TABLE ledger_balances DROP CONSTRAINT no_overdraft_respected",
      "UPDATE ledger_balances SET debits_posted = debits_posted + 1000 "
      "WHERE account_id = :depositor AND asset = 'USD'"),
     ("UPDATE ledger_balances SET debits_posted = debits_posted - 1000 "
      "WHERE account_id = :depositor AND asset = 'USD'",
      f"ALTER TABLE ledger_balances ADD CONSTRAINT no_overdraft_respected "
      f"CHECK ({NO_OVERDRAFT})"), ("account_id", "depositor")),
    ("overdraft_flag_cleared", "no_overdraft", "overdraft_flag_missing",
     ("UPDATE ledger_balances SET no_overdraft = false WHERE account_id = :depositor",),
     ("UPDATE ledger_balances SET no_overdraft = true WHERE account_id = :depositor",),
     ("account_id", "depositor")),
    ("transfer_amount_edited", "balances_match_transfers", "balance_mismatch",
     ("UPDATE ledger_transfers SET amount = amount + 1 WHERE transfer_id = :deposit",),
     ("UPDATE ledger_transfers SET amount = amount - 1 WHERE transfer_id = :deposit",),
     ("account_id", "depositor", "=external:bank:USD")),
    ("release_amount_edited", "escrow_transfers", "escrow_release_mismatch",
     ("UPDATE ledger_transfers SET amount = amount + 1 "
      "WHERE transfer_id = :release_id",),
     ("UPDATE ledger_transfers SET amount = amount - 1 "
      "WHERE transfer_id = :release_id",), ("escrow_id", "released")),
    ("escrow_amount_edited", "escrow_transfers", "escrow_funding_mismatch",
     ("UPDATE escrows SET amount = amount + 1 WHERE escrow_id = :held",),
     ("UPDATE escrows SET amount = amount - 1 WHERE escrow_id = :held",), ("escrow_id", "held")),
    ("escrow_closed_without_ledger", "orphan_pending", "pending_past_escrow",
     ("UPDATE escrows SET status = 'refunded' WHERE escrow_id = :held",),
     ("UPDATE escrows SET status = 'created' WHERE escrow_id = :held",), ("escrow_id", "held")),
    ("pending_transfer_without_escrow", "orphan_pending", "pending_without_escrow",
     ("INSERT INTO ledger_transfers (transfer_id, debit_account, credit_account, asset, amount,"
      " status) VALUES ('orphan:' || :depositor, :depositor, :payee, 'USD', 1, 'pending')",),
     ("DELETE FROM ledger_transfers WHERE transfer_id = 'orphan:' || :depositor",),
     ("transfer_id", "orphan")),
]


@pytest.mark.parametrize(("check", "kind", "corrupt", "restore", "names"),
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_a_corrupted_ledger_row_is_caught_and_alerted(
        ledger: dict[str, str], check: str, kind: str, corrupt: tuple[str, ...],
        restore: tuple[str, ...], names: tuple[str, ...]) -> None:
    params = {**ledger, "deposit": _deposit_transfer(ledger["depositor"]),
              "orphan": f"orphan:{ledger['depositor']}",
              "release_id": f"escrow:{ledger['released']}:release"}
    column, *keys = names
    expected = sorted(k[1:] if k.startswith("=") else params[k] for k in keys)
    with corrupted(*corrupt, restore=restore, params=params):
        run = reconcile()
    assert run.status == "completed_with_breaks"
    found = [b for b in breaks(run.run_id, check) if b.kind == kind]
    assert sorted(getattr(b, column) for b in found) == expected
    with unit_of_work() as session:
        alert = session.scalars(select(ComplianceAlert).where(
            ComplianceAlert.dedup_key == f"reconciliation:{run.run_id}:{check}")).one()
        events = session.scalars(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == run.run_id,
            OutboxEvent.event_type == "ledger.reconciliation_failed")).all()
    assert (alert.kind, alert.level, alert.status) == ("ledger_break", "high", "open")
    assert alert.details["breaks"] >= 1 and kind in alert.details["kinds"]
    assert check in {e.payload["check"] for e in events}
    # Undone, the ledger reconciles clean again: the corruption was the only break.
    assert reconcile().status == "completed"


def test_the_nightly_task_runs_once_per_date(ledger: dict[str, str]) -> None:
    from tasks.batch import reconcile_ledger  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    celery_app.send_task("batch.reconcile_ledger")
    key = f"nightly:{datetime.now(UTC).date().isoformat()}"

    def done() -> ReconciliationRun | None:
        with unit_of_work() as session:
            run = session.scalars(select(ReconciliationRun).where(
                ReconciliationRun.request_key == key)).one_or_none()
            return run if run is not None and run.status != "running" else None

    run = wait_for(done, timeout=60, what="nightly run")
    assert (run.trigger, run.status, run.checks_done) == ("nightly", "completed", 5)
    # Beat firing again the same night finds the run and has nothing left to send.
    again = reconcile_ledger.run()
    assert again == {"run_id": run.run_id, "checks_sent": 0}


def test_a_check_that_cannot_run_fails_the_run_and_alerts(ledger: dict[str, str]) -> None:
    from app.services import reconciliation  # noqa: PLC0415

    with unit_of_work() as session:
        plan = reconciliation.start_run(session, trigger="test", now=datetime.now(UTC))
    with unit_of_work() as session:
        outcome = reconciliation.fail_check(session, plan.run_id, "asset_sums",
                                            datetime.now(UTC), error="QueryCanceled: timeout")
    assert outcome["outcome"] == "failed"
    for name in plan.checks:
        with unit_of_work() as session:
            reconciliation.run_check(session, plan.run_id, name, datetime.now(UTC))
    with unit_of_work() as session:
        run = session.get(ReconciliationRun, plan.run_id)
        assert run is not None
        assert (run.status, run.checks_done, run.checks_failed, run.breaks_found) == (
            "completed_with_failures", 5, 1, 0)
        alert = session.scalars(select(ComplianceAlert).where(
            ComplianceAlert.dedup_key == f"reconciliation:{plan.run_id}:asset_sums")).one()
    assert alert.details["error"] == "QueryCanceled: timeout"
