"""The settlement batch's SQL: lock the commands, lock their balances, write every outcome.

A settlement is the hottest unit of work in the system, so its statements run on the unit of
work's connection through the driver (no ORM, no SQLAlchemy result objects; see
db.run_on_driver), in three round trips whatever the batch's size: the commands are locked
with the compliance gate's facts about their parties (gate_store.facts_of_commands, see
db.run_together); then every balance the rules need, created if new and locked, in one
sorted order across the batch; then everything the rules decided is written in one
statement. A refusal is decided before anything is written, so it needs no savepoint.

Every unit of work that locks balances takes them in the column's own sort order, and every
one that locks commands takes them sorted too, so two batches over the same accounts or the
same commands wait for each other instead of deadlocking.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.domain.commands import CommandStatus, CommandType
from app.domain.ledger import Balance, BalanceState, TransferStatus
from app.domain.settlement import BalanceKey, Decision, SettlementTerms, Verdict
from app.persistence.db import Statement, run_together
from app.persistence.db import run_on_driver as run

_LOCK_COMMANDS = """
    SELECT command_id, type, status, reason, payer, payee, asset, amount, counter_asset,
           counter_amount, deadline, workflow_id, escrow_id
    FROM commands WHERE command_id = ANY(CAST(%(command_ids)s AS text[]))
    ORDER BY command_id
    FOR UPDATE
"""

# Single submissions waiting in `received` (alembic 0013: ix_commands_waiting holds exactly
# these rows, in this order), taken into the caller's unit of work. SKIP LOCKED: a command
# another unit of work holds (its own task running, or another task's take) is left to it,
# and this never waits, so taking commands adds no lock order to keep.
_TAKE_WAITING = """
    SELECT command_id, type, status, reason, payer, payee, asset, amount, counter_asset,
           counter_amount, deadline, workflow_id, escrow_id
    FROM commands
    WHERE status = 'received' AND reason IS NULL AND batch_id IS NULL AND enqueue_count = 0
      AND type = ANY(CAST(%(types)s AS text[]))
      AND command_id <> ALL(CAST(%(own)s AS text[]))
      AND received_at <= %(now)s
    ORDER BY received_at, command_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""

_LOCK_BALANCES = """
    SELECT b.account_id, b.asset, b.no_overdraft, b.debits_posted, b.credits_posted,
           b.debits_pending, b.credits_pending
    FROM ledger_balances AS b
    JOIN unnest(CAST(%(accounts)s AS text[]), CAST(%(assets)s AS text[])) AS k(account_id, asset)
      ON b.account_id = k.account_id AND b.asset = k.asset
    ORDER BY b.account_id, b.asset
    FOR UPDATE OF b
"""

_CREATE_BALANCES = """
    INSERT INTO ledger_balances (account_id, asset, kind, no_overdraft, debits_posted,
                                 credits_posted, debits_pending, credits_pending)
    SELECT k.*, 0, 0, 0, 0
    FROM unnest(CAST(%(accounts)s AS text[]), CAST(%(assets)s AS text[]),
                CAST(%(kinds)s AS text[]), CAST(%(no_overdraft)s AS boolean[])) AS k
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING
"""

# Every outcome of a batch in one statement: balances, transfers, each command's new status
# (its walk to `settled`, its failure or its hold), compliance reasons shown on escrows and
# one outcome event per settled or failed command. The transfers carry no ON CONFLICT: the
# locked, non-terminal commands prove none of them was committed before, so a clash is a
# bug and must abort the whole unit of work.
_RECORD_OUTCOMES = """
    WITH balances AS (
        UPDATE ledger_balances AS b
        SET debits_posted = v.debits_posted, credits_posted = v.credits_posted,
            updated_at = %(now)s
        FROM unnest(CAST(%(b_accounts)s AS text[]), CAST(%(b_assets)s AS text[]),
                    CAST(%(b_debits)s AS numeric[]), CAST(%(b_credits)s AS numeric[]))
             AS v(account_id, asset, debits_posted, credits_posted)
        WHERE b.account_id = v.account_id AND b.asset = v.asset
    ), transfers AS (
        INSERT INTO ledger_transfers (transfer_id, debit_account, credit_account, asset, amount,
                                      status, resolved_at)
        SELECT t.*, %(posted)s, %(now)s
        FROM unnest(CAST(%(t_ids)s AS text[]), CAST(%(t_debits)s AS text[]),
                    CAST(%(t_credits)s AS text[]), CAST(%(t_assets)s AS text[]),
                    CAST(%(t_amounts)s AS numeric[])) AS t
    ), command AS (
        UPDATE commands AS c
        SET status = v.status, reason = v.reason, reason_detail = v.detail,
            validated_at = coalesce(v.validated_at, c.validated_at),
            settling_at = coalesce(v.settling_at, c.settling_at),
            settled_at = coalesce(v.settled_at, c.settled_at),
            failed_at = coalesce(v.failed_at, c.failed_at),
            settled_by = coalesce(v.settled_by, c.settled_by),
            updated_at = %(now)s
        FROM unnest(CAST(%(c_ids)s AS text[]), CAST(%(c_statuses)s AS text[]),
                    CAST(%(c_reasons)s AS text[]), CAST(%(c_details)s AS text[]),
                    CAST(%(c_validated_at)s AS timestamptz[]),
                    CAST(%(c_settling_at)s AS timestamptz[]),
                    CAST(%(c_settled_at)s AS timestamptz[]),
                    CAST(%(c_failed_at)s AS timestamptz[]), CAST(%(c_settled_by)s AS text[]))
             AS v(command_id, status, reason, detail, validated_at, settling_at, settled_at,
                  failed_at, settled_by)
        WHERE c.command_id = v.command_id
    ), escrow AS (
        UPDATE escrows AS e SET hold_reason = v.hold_reason, updated_at = %(now)s
        FROM unnest(CAST(%(e_ids)s AS text[]), CAST(%(e_reasons)s AS text[]))
             AS v(escrow_id, hold_reason)
        WHERE e.escrow_id = v.escrow_id
    )
    INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
    SELECT v.id, %(topic)s, v.event_type, v.aggregate_id, v.payload, 0
    FROM unnest(CAST(%(o_ids)s AS text[]), CAST(%(o_types)s AS text[]),
                CAST(%(o_aggregates)s AS text[]), CAST(%(o_payloads)b AS jsonb[]))
         AS v(id, event_type, aggregate_id, payload)
"""



# The statuses whose entry the commands table stamps, each in its `<status>_at` column.
_STAMPED = (CommandStatus.VALIDATED, CommandStatus.SETTLING, CommandStatus.SETTLED,
            CommandStatus.FAILED)


def lock_commands(command_ids: Sequence[str]) -> Statement:
    """Lock the commands' rows in sorted order; its rows are read by terms_from."""
    return _LOCK_COMMANDS, {"command_ids": list(command_ids)}


def take_waiting(own: Sequence[str], types: Iterable[str], limit: int,
                 received_by: datetime) -> Statement:
    """Lock up to `limit` other commands of `types` submitted on their own and still waiting
    (not held, never re-sent), oldest first, skipping any another unit of work holds; sent
    after the lock of `own`, its rows are read by terms_from, in the order taken. Only those
    received by `received_by` (the batch's clock), so none is settled before it arrived."""
    return _TAKE_WAITING, {"own": list(own), "types": sorted(types), "limit": limit,
                           "now": received_by}


def terms_from(rows: Iterable[Any]) -> dict[str, SettlementTerms]:
    return {row.command_id: SettlementTerms(
        command_id=row.command_id, type=CommandType(row.type), status=row.status,
        reason=row.reason, payer=row.payer, payee=row.payee, asset=row.asset, amount=row.amount,
        counter_asset=row.counter_asset, counter_amount=row.counter_amount,
        deadline=row.deadline, workflow_id=row.workflow_id, escrow_id=row.escrow_id)
        for row in rows}


def lock_balances(conn: Connection, rows: Sequence[tuple[str, str, str, bool]]
                  ) -> dict[BalanceKey, Balance]:
    """Lock the balances (account, asset, kind, no_overdraft), creating with zero those seen
    for the first time, in one round trip and one sorted order. A concurrent creator of the
    same row makes this wait for it, then lock it, in the same order."""
    accounts, assets, kinds, no_overdraft = (list(c) for c in zip(*rows, strict=True))
    _, locked = run_together(conn, [
        (_CREATE_BALANCES, {"accounts": accounts, "assets": assets, "kinds": kinds,
                            "no_overdraft": no_overdraft}),
        (_LOCK_BALANCES, {"accounts": accounts, "assets": assets})])
    return balances_from(locked)


def balances_from(rows: Iterable[Any]) -> dict[BalanceKey, Balance]:
    return {(r.account_id, r.asset): Balance(r.account_id, r.asset, r.no_overdraft,
                                             r.debits_posted, r.credits_posted,
                                             r.debits_pending, r.credits_pending)
            for r in rows}


def record_outcomes(conn: Connection, *, now: datetime, settled_by: str,
                    decisions: Sequence[Decision],
                    balances: Mapping[BalanceKey, BalanceState],
                    escrow_reasons: Mapping[str, str], topic: str,
                    events: Sequence[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Write a batch's outcomes: `balances` as they stand after it (only those it changed),
    the transfers and new status of each decided command, the reasons to show on escrows
    (escrow id -> text) and the outcome events (id, event type, command id, payload)."""
    written = [d for d in decisions if d.verdict is not Verdict.SKIPPED]
    if not written:
        return
    changed = list(balances.values())
    moved = [leg for d in written for leg in d.moved]
    run(conn, _RECORD_OUTCOMES, {
        "now": now, "posted": TransferStatus.POSTED.value,
        "topic": topic,
        "b_accounts": [b.account_id for b in changed], "b_assets": [b.asset for b in changed],
        "b_debits": [b.debits_posted for b in changed],
        "b_credits": [b.credits_posted for b in changed],
        "t_ids": [leg.transfer_id for leg in moved],
        "t_debits": [leg.debit_account for leg in moved],
        "t_credits": [leg.credit_account for leg in moved],
        "t_assets": [leg.asset for leg in moved],
        "t_amounts": [leg.amount for leg in moved],
        "c_ids": [d.terms.command_id for d in written],
        "c_statuses": [d.status.value for d in written],
        "c_reasons": [d.reason for d in written],
        "c_details": [d.detail for d in written],
        # Each status's timestamp is the decision's; a status it does not enter keeps its own.
        **{f"c_{status.value}_at": [d.entered_at(status) for d in written]
           for status in _STAMPED},
        "c_settled_by": [settled_by if d.terminal else None for d in written],
        "e_ids": list(escrow_reasons), "e_reasons": list(escrow_reasons.values()),
        "o_ids": [e[0] for e in events], "o_types": [e[1] for e in events],
        "o_aggregates": [e[2] for e in events],
        "o_payloads": [json.dumps(e[3]) for e in events],
    })
