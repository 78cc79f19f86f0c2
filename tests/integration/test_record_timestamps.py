"""A record is never started before it was created. A task takes its clock reading (`now`)
before its unit of work opens, and PostgreSQL's now() is the transaction's start, so a
created_at left to the database default came out after the started_at the service set from
`now`; a batch or run now takes both from the one `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.persistence.batch_models import ReconciliationRun
from app.persistence.db import unit_of_work
from app.persistence.risk_models import RiskBatch
from app.services import batches, reconciliation
from app.services.risk import batch

pytestmark = pytest.mark.integration


def _earlier() -> datetime:
    # As a task that read the clock, then waited on a pool checkout or a retry, passes it.
    return datetime.now(UTC) - timedelta(seconds=2)


def test_a_risk_batch_is_not_started_before_it_was_created(service_env: dict[str, str]) -> None:
    now = _earlier()
    with unit_of_work() as session:
        plan = batch.start_batch(session, scope="all", asset=None, trigger="test", now=now,
                                 chunk_size=100)
        assert plan is not None
    with unit_of_work() as session:
        row = session.get(RiskBatch, plan.batch_id)
        assert row is not None
        assert row.created_at <= row.started_at, (row.created_at, row.started_at)
        view = batches.get_batch(session, f"risk_recompute:{plan.batch_id}")
        assert view.started_at is not None and view.created_at <= view.started_at


def test_a_reconciliation_run_is_not_started_before_it_was_created(
        service_env: dict[str, str]) -> None:
    now = _earlier()
    with unit_of_work() as session:
        plan = reconciliation.start_run(session, trigger="test", now=now)
    with unit_of_work() as session:
        row = session.get(ReconciliationRun, plan.run_id)
        assert row is not None
        assert row.created_at <= row.started_at, (row.created_at, row.started_at)
