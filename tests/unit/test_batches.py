"""Pure parts of the batch read model and the reconciliation rules (no services)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import CheckConstraint

from app.domain import reconciliation as rules
from app.persistence.batch_models import ReconciliationRun
from app.persistence.compliance_models import RescreenRun
from app.persistence.risk_models import RiskBatch
from app.services import batches
from app.services.batches import BatchView


def allowed_statuses(model: type) -> set[str]:
    check = next(c for c in model.__table__.constraints  # type: ignore[attr-defined]
                 if isinstance(c, CheckConstraint) and c.name == "status_known")
    return set(re.findall(r"'([a-z_]+)'", str(check.sqltext)))


@pytest.mark.parametrize(("kind", "model"), [
    ("risk_recompute", RiskBatch), ("sanctions_rescreen", RescreenRun),
    ("reconciliation", ReconciliationRun)])
def test_every_stored_status_has_a_shared_name(kind: str, model: type) -> None:
    mapping = batches._STATUS[kind]
    assert set(mapping) == allowed_statuses(model)
    assert set(mapping.values()) <= set(batches.STATUSES)
    assert mapping["cancelled"] == "cancelled"


def test_ids_may_be_qualified_by_kind() -> None:
    assert batches.parse_id("reconciliation:abc") == ("reconciliation", "abc")
    assert batches.parse_id("abc") == (None, "abc")
    # Only a known kind is a qualifier; anything else is part of the id.
    assert batches.parse_id("nightly:2026-01-01") == (None, "nightly:2026-01-01")


def test_a_view_knows_when_it_finished_and_serialises() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    view = BatchView(id="x", kind="reconciliation", status="running", total=5, done=2,
                     failed=1, created_at=at, started_at=at, finished_at=None)
    assert not view.finished and view.qualified_id == "reconciliation:x"
    body = view.as_dict()
    assert (body["created_at"], body["finished_at"], body["detail"]) == (at.isoformat(), None,
                                                                         {})
    for status in ("completed", "completed_with_failures", "cancelled"):
        assert BatchView(**{**view.__dict__, "status": status}).finished


@pytest.mark.parametrize(("finished", "with_breaks", "failed", "cancelled", "expected"), [
    (2, 0, 0, False, "running"),
    (5, 0, 0, False, "completed"),
    (5, 2, 0, False, "completed_with_breaks"),
    (5, 2, 1, False, "completed_with_failures"),
    (3, 1, 0, True, "cancelled"),
    (5, 0, 0, True, "cancelled"),
])
def test_run_status_follows_its_checks(finished: int, with_breaks: int, failed: int,
                                       cancelled: bool, expected: str) -> None:
    assert rules.run_status(finished=finished, total=5, with_breaks=with_breaks, failed=failed,
                            cancelled=cancelled) == expected


def test_every_check_has_a_query_and_the_alert_says_what_broke() -> None:
    from app.persistence import reconciliation_store  # noqa: PLC0415

    assert set(reconciliation_store.CHECK_QUERIES) == set(rules.CHECK_NAMES)
    assert len(rules.CHECK_NAMES) == len(set(rules.CHECK_NAMES)) == 5
    line = rules.alert_summary("asset_sums", 3, {"asset_posted_sum_nonzero": 2,
                                                  "asset_pending_unbalanced": 1}, None)
    assert line == ("ledger reconciliation: 3 break(s) of asset_sums "
                    "(1 asset_pending_unbalanced, 2 asset_posted_sum_nonzero)")
    assert "could not run: boom" in rules.alert_summary("no_overdraft", 0, {}, "boom")
