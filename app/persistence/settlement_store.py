"""The settlement command's SQL: lock the command, lock its balances, write the outcome.

A settlement is the hottest unit of work in the system, so its statements run on the unit of
work's connection through the driver (no ORM, no SQLAlchemy result objects; see
db.run_on_driver), in as few round trips as the rules allow: the command is locked in one
round trip with the balances of the accounts it names (and whatever else the caller reads,
see db.run_together), and everything the rules decided is written in one statement. A
refusal is decided before anything is written, so it needs no savepoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.domain.commands import CommandStatus, CommandType
from app.domain.ledger import Balance, BalanceState, TransferStatus
from app.domain.settlement import SETTLEMENT_TYPES, BalanceKey, Leg, SettlementTerms
from app.persistence.db import Statement
from app.persistence.db import run_on_driver as run

_LOCK_COMMAND = """
    SELECT command_id, type, status, reason, payer, payee, asset, amount, counter_asset,
           counter_amount, deadline, workflow_id, escrow_id
    FROM commands WHERE command_id = %(command_id)s
    FOR UPDATE
"""

# Sorted by the column's own collation, as every other path that locks balances sorts them,
# so that two units of work over the same accounts take the locks in the same order.
_LOCK_BALANCES = """
    SELECT b.account_id, b.asset, b.no_overdraft, b.debits_posted, b.credits_posted,
           b.debits_pending, b.credits_pending
    FROM ledger_balances AS b
    JOIN unnest(CAST(%(accounts)s AS text[]), CAST(%(assets)s AS text[])) AS k(account_id, asset)
      ON b.account_id = k.account_id AND b.asset = k.asset
    ORDER BY b.account_id, b.asset
    FOR UPDATE OF b
"""

# Sent with the command's lock, before the rules have read the command: the balances of the
# accounts it names, in every asset it names, locked in the same order as above. For a DVP
# or a collateral transfer these are exactly the balances its legs move. The rules still
# decide what is needed; a balance this leaves out (a deposit's bank account, an account's
# first use) is locked afterwards by lock_balances. Nothing is locked for a finished command.
_LOCK_NAMED_BALANCES = """
    SELECT b.account_id, b.asset, b.no_overdraft, b.debits_posted, b.credits_posted,
           b.debits_pending, b.credits_pending
    FROM ledger_balances AS b
    JOIN (SELECT named.account_id, asset.asset
          FROM commands AS c
          CROSS JOIN LATERAL (VALUES (c.payer), (c.payee)) AS named(account_id)
          CROSS JOIN LATERAL (VALUES (c.asset), (c.counter_asset)) AS asset(asset)
          WHERE c.command_id = %(command_id)s AND c.payer IS NOT NULL
            AND c.type = ANY(CAST(%(types)s AS text[]))
            AND c.status <> ALL(CAST(%(terminal)s AS text[]))) AS k
      ON b.account_id = k.account_id AND b.asset = k.asset
    ORDER BY b.account_id, b.asset
    FOR UPDATE OF b
"""
_SETTLEMENT_TYPES = sorted(t.value for t in SETTLEMENT_TYPES)
_TERMINAL = sorted(s.value for s in CommandStatus if s.terminal)

_CREATE_BALANCES = """
    INSERT INTO ledger_balances (account_id, asset, kind, no_overdraft, debits_posted,
                                 credits_posted, debits_pending, credits_pending)
    SELECT k.*, 0, 0, 0, 0
    FROM unnest(CAST(%(accounts)s AS text[]), CAST(%(assets)s AS text[]),
                CAST(%(kinds)s AS text[]), CAST(%(no_overdraft)s AS boolean[])) AS k
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING
"""

# Balances, transfers, the command's walk to `settled` and its outcome event, in one statement.
# The transfers carry no ON CONFLICT: the locked, non-terminal command proves none of them was
# committed before, so a clash is a bug and must abort the whole unit of work.
_RECORD_SETTLED = """
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
        UPDATE commands
        SET status = %(status)s, validated_at = %(now)s, settling_at = %(now)s,
            settled_at = %(now)s, reason = NULL, reason_detail = NULL, updated_at = %(now)s
        WHERE command_id = %(command_id)s
    )
    INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
    VALUES (%(event_id)s, %(topic)s, %(event_type)s, %(command_id)s,
            CAST(%(payload)s AS jsonb), 0)
"""


def lock_command(command_id: str) -> Statement:
    """Lock the command's row; its rows are read by terms_from."""
    return _LOCK_COMMAND, {"command_id": command_id}


def lock_named_balances(command_id: str) -> Statement:
    """Lock the balances the command names (see _LOCK_NAMED_BALANCES); its rows are read by
    balances_from. Only after lock_command, in the same round trip or a later one."""
    return _LOCK_NAMED_BALANCES, {"command_id": command_id, "types": _SETTLEMENT_TYPES,
                                  "terminal": _TERMINAL}


def terms_from(rows: Sequence[Any]) -> SettlementTerms | None:
    if not rows:
        return None
    row = rows[0]
    return SettlementTerms(
        command_id=row.command_id, type=CommandType(row.type), status=row.status,
        reason=row.reason, payer=row.payer, payee=row.payee, asset=row.asset, amount=row.amount,
        counter_asset=row.counter_asset, counter_amount=row.counter_amount,
        deadline=row.deadline, workflow_id=row.workflow_id, escrow_id=row.escrow_id)


def lock_balances(conn: Connection, keys: Sequence[BalanceKey]) -> dict[BalanceKey, Balance]:
    return balances_from(run(conn, _LOCK_BALANCES, {"accounts": [k[0] for k in keys],
                                                    "assets": [k[1] for k in keys]}))


def balances_from(rows: Iterable[Any]) -> dict[BalanceKey, Balance]:
    return {(r.account_id, r.asset): Balance(r.account_id, r.asset, r.no_overdraft,
                                             r.debits_posted, r.credits_posted,
                                             r.debits_pending, r.credits_pending)
            for r in rows}


def create_balances(conn: Connection, rows: Iterable[tuple[str, str, str, bool]]) -> None:
    """Zero balances for accounts seen for the first time: (account, asset, kind, no_overdraft).
    A concurrent creator wins quietly; the caller locks them afterwards either way."""
    accounts, assets, kinds, no_overdraft = (list(c) for c in zip(*rows, strict=True))
    run(conn, _CREATE_BALANCES, {"accounts": accounts, "assets": assets, "kinds": kinds,
                                 "no_overdraft": no_overdraft})


def record_settled(conn: Connection, *, command_id: str, status: str, now: datetime,
                   balances: Mapping[BalanceKey, BalanceState], moved: Sequence[Leg],
                   event_id: str, topic: str, event_type: str,
                   payload: dict[str, Any]) -> None:
    changed = list(balances.values())
    run(conn, _RECORD_SETTLED, {
        "now": now, "status": status, "command_id": command_id,
        "posted": TransferStatus.POSTED.value,
        "b_accounts": [b.account_id for b in changed], "b_assets": [b.asset for b in changed],
        "b_debits": [b.debits_posted for b in changed],
        "b_credits": [b.credits_posted for b in changed],
        "t_ids": [leg.transfer_id for leg in moved],
        "t_debits": [leg.debit_account for leg in moved],
        "t_credits": [leg.credit_account for leg in moved],
        "t_assets": [leg.asset for leg in moved],
        "t_amounts": [leg.amount for leg in moved],
        "event_id": event_id, "topic": topic, "event_type": event_type,
        "payload": json.dumps(payload),
    })
