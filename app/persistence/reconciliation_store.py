"""The ledger reconciliation's SQL: one set-based query per invariant of
app/domain/reconciliation.py, each run over every account and recording its breaks.

Each check query yields the break columns; app/services/reconciliation.py runs a check and
owns its outcome (status, counters, alert).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.domain import reconciliation as rules
from app.domain.parties import ESCROW_PREFIX, EXTERNAL_PREFIX

_BREAK_COLUMNS = ("kind, asset, account_id, transfer_id, escrow_id, expected, actual, detail")

# Every query yields the break columns; amounts as text without trailing zeros.
CHECK_QUERIES: dict[str, str] = {
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
assert set(CHECK_QUERIES) == set(rules.CHECK_NAMES)

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


def run_check(session: Session, check_name: str, *, run_id: str, cap: int,
              release_prefix: str, release_suffix: str) -> tuple[int, dict[str, int]]:
    """Run one check: record up to `cap` of its breaks on the run; returns how many breaks
    it found (exactly) and how many of each kind. An escrow's release transfer id is
    `<release_prefix><escrow id><release_suffix>`."""
    found = session.execute(
        text(_RUN_CHECK.format(query=CHECK_QUERIES[check_name], columns=_BREAK_COLUMNS)),
        {"external": EXTERNAL_PREFIX, "escrow": ESCROW_PREFIX,
         "release_prefix": release_prefix, "release_suffix": release_suffix,
         "run_id": run_id, "check_name": check_name, "cap": cap},
    ).one()
    return int(found.found), {str(k): int(n) for k, n in dict(found.kinds).items()}


# Pending checks a worker is not holding right now; those it holds finish on their own.
_CANCEL_PENDING_CHECKS = text("""
        UPDATE reconciliation_checks SET status = 'cancelled', finished_at = :now
         WHERE (run_id, name) IN (
               SELECT run_id, name FROM reconciliation_checks
                WHERE run_id = :id AND status = 'pending' FOR UPDATE SKIP LOCKED)""")


def cancel_pending_checks(session: Session, run_id: str, now: datetime) -> None:
    session.execute(_CANCEL_PENDING_CHECKS, {"id": run_id, "now": now})
