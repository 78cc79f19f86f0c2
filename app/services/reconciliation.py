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

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain import reconciliation as rules
from app.domain.compliance.alerts import AlertKind
from app.domain.errors import NotFound
from app.domain.parties import ESCROW_PREFIX, EXTERNAL_PREFIX
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
_BREAK_COLUMNS = ("kind, asset, account_id, transfer_id, escrow_id, expected, actual, detail")
# The release transfer's id is `<prefix><escrow id><suffix>`; split once so SQL builds it.
_RELEASE_PREFIX, _RELEASE_SUFFIX = escrows.release_transfer_id("\x00").split("\x00")

# Every query yields the break columns; amounts as text without trailing zeros.
_QUERIES: dict[str, str] = {
    "asset_sums": """
SELECT v.kind, s.asset, NULL::text, NULL::text, NULL::text, v.expected, v.actual,
       jsonb_build_object('posted_sum', trim_scale(s.posted)::text,
                          'pending_debits', trim_scale(s.dp)::text,
                          'pending_credits', trim_scale(s.cp)::text)
  FROM (SELECT asset, sum(credits_posted - debits_posted) AS posted,
               sum(debits_pending) AS dp, sum(credits_pending) AS cp
          FROM ledger_balances GROUP BY asset) AS s
 CROSS JOIN LATERAL (VALUES
       ('asset_posted_sum_nonzero', '0', trim_scale(s.posted)::text, s.posted <> 0),
       ('asset_pending_unbalanced', trim_scale(s.dp)::text, trim_scale(s.cp)::text,
        s.dp <> s.cp)) AS v(kind, expected, actual, broken)
 WHERE v.broken""",
    "no_overdraft": """
SELECT v.kind, b.asset, b.account_id, NULL::text, NULL::text, v.expected, v.actual,
       jsonb_build_object('kind', b.kind, 'no_overdraft', b.no_overdraft,
                          'available', trim_scale(b.available)::text)
  FROM (SELECT *, credits_posted - debits_posted - debits_pending AS available,
               account_id LIKE :external || '%' AS is_external,
               CASE WHEN account_id LIKE :external || '%' THEN 'external'
                    WHEN account_id LIKE :escrow || '%' THEN 'escrow'
                    ELSE 'customer' END AS id_kind
          FROM ledger_balances) AS b
 CROSS JOIN LATERAL (VALUES
       ('overdraft', '>= 0', trim_scale(b.available)::text,
        (b.no_overdraft OR NOT b.is_external) AND b.available < 0),
       ('overdraft_flag_missing', 'no_overdraft', 'overdraft allowed',
        NOT b.is_external AND NOT b.no_overdraft),
       ('account_kind_mismatch', b.id_kind, b.kind, b.kind <> b.id_kind))
       AS v(kind, expected, actual, broken)
 WHERE v.broken""",
    "balances_match_transfers": """
WITH legs AS (
  SELECT debit_account AS account_id, asset,
         CASE WHEN status = 'posted' THEN amount ELSE 0 END AS debits_posted,
         0 AS credits_posted,
         CASE WHEN status = 'pending' THEN amount ELSE 0 END AS debits_pending,
         0 AS credits_pending
    FROM ledger_transfers WHERE status <> 'voided'
  UNION ALL
  SELECT credit_account, asset, 0, CASE WHEN status = 'posted' THEN amount ELSE 0 END,
         0, CASE WHEN status = 'pending' THEN amount ELSE 0 END
    FROM ledger_transfers WHERE status <> 'voided'),
sums AS (
  SELECT account_id, asset, sum(debits_posted) AS dp, sum(credits_posted) AS cp,
         sum(debits_pending) AS dq, sum(credits_pending) AS cq
    FROM legs GROUP BY account_id, asset),
joined AS (
  SELECT coalesce(b.account_id, s.account_id) AS account_id,
         coalesce(b.asset, s.asset) AS asset,
         coalesce(s.dp, 0) AS e_dp, coalesce(s.cp, 0) AS e_cp,
         coalesce(s.dq, 0) AS e_dq, coalesce(s.cq, 0) AS e_cq,
         coalesce(b.debits_posted, 0) AS a_dp, coalesce(b.credits_posted, 0) AS a_cp,
         coalesce(b.debits_pending, 0) AS a_dq, coalesce(b.credits_pending, 0) AS a_cq
    FROM ledger_balances AS b FULL JOIN sums AS s
      ON s.account_id = b.account_id AND s.asset = b.asset)
SELECT 'balance_mismatch', asset, account_id, NULL::text, NULL::text,
       format('debits_posted=%s credits_posted=%s debits_pending=%s credits_pending=%s',
              trim_scale(e_dp), trim_scale(e_cp), trim_scale(e_dq), trim_scale(e_cq)),
       format('debits_posted=%s credits_posted=%s debits_pending=%s credits_pending=%s',
              trim_scale(a_dp), trim_scale(a_cp), trim_scale(a_dq), trim_scale(a_cq)),
       '{}'::jsonb
  FROM joined
 WHERE (e_dp, e_cp, e_dq, e_cq) IS DISTINCT FROM (a_dp, a_cp, a_dq, a_cq)""",
    "escrow_transfers": """
SELECT v.kind, e.asset, NULL::text, v.transfer_id, e.escrow_id, v.expected, v.actual,
       jsonb_build_object('escrow_status', e.status, 'source', e.source)
  FROM (SELECT e.*, :escrow || e.escrow_id AS hold,
               CASE e.status WHEN 'released' THEN 'posted' WHEN 'refunded' THEN 'voided'
                             ELSE 'pending' END AS funding_should_be,
               CASE WHEN e.source = 'api' THEN f.debit_account = e.payer
                    ELSE f.debit_account LIKE :external || 'chain:%' END AS payer_ok,
               f.transfer_id AS f_id, f.status AS f_status, f.debit_account AS f_debit,
               f.credit_account AS f_credit, f.amount AS f_amount, f.asset AS f_asset,
               r.transfer_id AS r_id, r.status AS r_status, r.debit_account AS r_debit,
               r.credit_account AS r_credit, r.amount AS r_amount, r.asset AS r_asset
          FROM escrows AS e
          LEFT JOIN ledger_transfers AS f ON f.transfer_id = e.funding_transfer_id
          LEFT JOIN ledger_transfers AS r
                 ON r.transfer_id = :release_prefix || e.escrow_id || :release_suffix) AS e
 CROSS JOIN LATERAL (VALUES
       ('escrow_funding_mismatch', e.f_id,
        format('%s -> %s %s %s', e.payer, e.hold, trim_scale(e.amount), e.asset),
        format('%s -> %s %s %s', e.f_debit, e.f_credit, trim_scale(e.f_amount), e.f_asset),
        e.f_id IS NULL OR NOT e.payer_ok OR e.f_credit <> e.hold OR e.f_amount <> e.amount
          OR e.f_asset <> e.asset),
       ('escrow_funding_state', e.f_id, e.funding_should_be, e.f_status,
        e.f_status <> e.funding_should_be),
       ('escrow_release_missing', NULL, 'a posted release transfer', 'none',
        e.status = 'released' AND e.r_id IS NULL),
       ('escrow_release_mismatch', e.r_id,
        format('%s -> %s %s %s posted', e.hold, e.payee, trim_scale(e.amount), e.asset),
        format('%s -> %s %s %s %s', e.r_debit, e.r_credit, trim_scale(e.r_amount), e.r_asset,
               e.r_status),
        e.status = 'released' AND e.r_id IS NOT NULL
          AND (e.r_status <> 'posted' OR e.r_debit <> e.hold OR e.r_credit <> e.payee
               OR e.r_amount <> e.amount OR e.r_asset <> e.asset)),
       ('escrow_release_unexpected', e.r_id, 'none', e.r_status,
        e.status <> 'released' AND e.r_id IS NOT NULL))
       AS v(kind, transfer_id, expected, actual, broken)
 WHERE v.broken""",
    "orphan_pending": """
SELECT CASE WHEN e.escrow_id IS NULL THEN 'pending_without_escrow'
            ELSE 'pending_past_escrow' END,
       t.asset, t.debit_account, t.transfer_id, e.escrow_id,
       CASE WHEN e.escrow_id IS NULL THEN 'an open escrow holding it'
            ELSE 'resolved with its escrow' END,
       CASE WHEN e.escrow_id IS NULL THEN 'pending, no escrow'
            ELSE 'pending, escrow ' || e.status END,
       jsonb_build_object('amount', trim_scale(t.amount)::text, 'created_at', t.created_at)
  FROM ledger_transfers AS t LEFT JOIN escrows AS e ON e.funding_transfer_id = t.transfer_id
 WHERE t.status = 'pending' AND (e.escrow_id IS NULL OR e.status IN ('released', 'refunded'))""",
}
assert set(_QUERIES) == set(rules.CHECK_NAMES)

# Found once (MATERIALIZED), recorded up to the cap, counted exactly.
_RUN_CHECK = """
WITH found ({columns}) AS MATERIALIZED ({query}),
recorded AS (
  INSERT INTO reconciliation_breaks (run_id, check_name, {columns})
  SELECT :run_id, :check_name, {columns} FROM found LIMIT :cap
  RETURNING kind)
SELECT (SELECT count(*) FROM found) AS found,
       (SELECT coalesce(jsonb_object_agg(kind, n), '{{}}'::jsonb)
          FROM (SELECT kind, count(*) AS n FROM found GROUP BY kind) AS k) AS kinds,
       (SELECT count(*) FROM recorded) AS recorded
"""
_PARAMS = {"external": EXTERNAL_PREFIX, "escrow": ESCROW_PREFIX,
           "release_prefix": _RELEASE_PREFIX, "release_suffix": _RELEASE_SUFFIX}


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
    found = session.execute(
        text(_RUN_CHECK.format(query=_QUERIES[name], columns=_BREAK_COLUMNS)),
        {**_PARAMS, "run_id": run_id, "check_name": name, "cap": rules.MAX_RECORDED_BREAKS},
    ).one()
    check.status, check.breaks, check.finished_at = "done", int(found.found), now
    kinds = {str(k): int(n) for k, n in dict(found.kinds).items()}
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
