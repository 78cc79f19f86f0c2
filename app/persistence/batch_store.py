"""The SQL of settlement batches submitted through the API: their commands stored set-based
(each with its command.accepted event, as a single submission stores it), the batch and its
items, and what the batch's commands have become."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.persistence.db import run_on_driver as run

# The same rows accept_command stores one at a time (services/commands.py): a command known
# already is left as it is and announces nothing; the caller compares its fingerprint.
_ACCEPT_MANY = """
    WITH stored AS (
        INSERT INTO commands (command_id, type, status, payload, request_hash, workflow_id,
                              account_ref, payer, payee, asset, amount, counter_asset,
                              counter_amount, deadline, enqueue_count, batch_id)
        SELECT c.command_id, c.type, %(status)s, c.payload, c.request_hash, c.workflow_id,
               c.account_ref, c.payer, c.payee, c.asset, c.amount, c.counter_asset,
               c.counter_amount, c.deadline, 0, %(batch_id)s
        FROM unnest(CAST(%(ids)s AS text[]), CAST(%(types)s AS text[]),
                    CAST(%(payloads)b AS jsonb[]), CAST(%(hashes)s AS text[]),
                    CAST(%(workflow_ids)s AS text[]), CAST(%(account_refs)s AS text[]),
                    CAST(%(payers)s AS text[]), CAST(%(payees)s AS text[]),
                    CAST(%(assets)s AS text[]), CAST(%(amounts)s AS numeric[]),
                    CAST(%(counter_assets)s AS text[]), CAST(%(counter_amounts)s AS numeric[]),
                    CAST(%(deadlines)s AS timestamptz[]))
             AS c(command_id, type, payload, request_hash, workflow_id, account_ref, payer,
                  payee, asset, amount, counter_asset, counter_amount, deadline)
        ORDER BY c.command_id
        ON CONFLICT (command_id) DO NOTHING
        RETURNING command_id
    ), announced AS (
        INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
        SELECT e.id, %(topic)s, 'command.accepted', e.command_id, e.payload, 0
        FROM unnest(CAST(%(event_ids)s AS text[]), CAST(%(ids)s AS text[]),
                    CAST(%(events)b AS jsonb[])) AS e(id, command_id, payload)
        JOIN stored ON stored.command_id = e.command_id
    )
    SELECT command_id FROM stored
"""

_FINGERPRINTS = """
    SELECT command_id, request_hash FROM commands
    WHERE command_id = ANY(CAST(%(ids)s AS text[]))
"""

_RECORD_BATCH = """
    WITH batch AS (
        INSERT INTO command_batches (batch_id, item_count, accepted_count, rejected_count)
        VALUES (%(batch_id)s, %(items)s, %(accepted)s, %(rejected)s)
    )
    INSERT INTO command_batch_items (batch_id, position, command_id)
    SELECT %(batch_id)s, i.position, i.command_id
    FROM unnest(CAST(%(positions)s AS integer[]), CAST(%(command_ids)s AS text[]))
         AS i(position, command_id)
"""

_BATCH = """
    SELECT batch_id, item_count, accepted_count, rejected_count, created_at
    FROM command_batches WHERE batch_id = %(batch_id)s
"""

_COUNTS = """
    SELECT c.status, count(DISTINCT c.command_id) AS n
    FROM command_batch_items AS i JOIN commands AS c ON c.command_id = i.command_id
    WHERE i.batch_id = %(batch_id)s
    GROUP BY c.status
"""

_ITEMS = """
    SELECT i.position, c.command_id, c.status, c.reason, c.reason_detail, c.settled_by,
           c.settled_at, c.failed_at
    FROM command_batch_items AS i JOIN commands AS c ON c.command_id = i.command_id
    WHERE i.batch_id = %(batch_id)s AND i.position > %(after)s
    ORDER BY i.position
    LIMIT %(limit)s
"""

_COLUMNS = ("workflow_id", "account_ref", "payer", "payee", "asset", "amount",
            "counter_asset", "counter_amount", "deadline")


@dataclass(frozen=True, slots=True)
class CommandRow:
    """A command to store: the columns accept_command stores, plus its accepted event."""

    command_id: str
    type: str
    payload: dict[str, Any]
    request_hash: str
    columns: Mapping[str, Any]
    event_id: str
    event: dict[str, Any]


def accept_many(conn: Connection, rows: Sequence[CommandRow], *, status: str,
                topic: str, batch_id: str) -> set[str]:
    """Store the commands not known yet (ids distinct) in `status`, each with its event and
    the batch submitting them; returns the ids stored now."""
    column: dict[str, list[Any]] = {c: [r.columns.get(c) for r in rows] for c in _COLUMNS}
    stored = run(conn, _ACCEPT_MANY, {
        "status": status, "topic": topic, "batch_id": batch_id,
        "ids": [r.command_id for r in rows],
        "types": [r.type for r in rows], "payloads": [json.dumps(r.payload) for r in rows],
        "hashes": [r.request_hash for r in rows],
        "workflow_ids": column["workflow_id"], "account_refs": column["account_ref"],
        "payers": column["payer"], "payees": column["payee"], "assets": column["asset"],
        "amounts": column["amount"], "counter_assets": column["counter_asset"],
        "counter_amounts": column["counter_amount"], "deadlines": column["deadline"],
        "event_ids": [r.event_id for r in rows], "events": [json.dumps(r.event) for r in rows],
    })
    return {row.command_id for row in stored}


def fingerprints(conn: Connection, command_ids: Sequence[str]) -> dict[str, str]:
    rows = run(conn, _FINGERPRINTS, {"ids": list(command_ids)})
    return {row.command_id: row.request_hash for row in rows}


def record_batch(conn: Connection, *, batch_id: str, item_count: int, rejected: int,
                 accepted: Sequence[tuple[int, str]]) -> None:
    """The batch and its accepted items, (position in the request, command id)."""
    run(conn, _RECORD_BATCH, {
        "batch_id": batch_id, "items": item_count, "accepted": len(accepted),
        "rejected": rejected, "positions": [p for p, _ in accepted],
        "command_ids": [c for _, c in accepted]})


@dataclass(frozen=True, slots=True)
class BatchItem:
    position: int
    command_id: str
    status: str
    reason: str | None
    reason_detail: str | None
    settled_by: str | None
    settled_at: datetime | None
    failed_at: datetime | None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    batch_id: str
    item_count: int
    accepted_count: int
    rejected_count: int
    created_at: datetime
    counts: dict[str, int]


def batch_summary(conn: Connection, batch_id: str) -> BatchSummary | None:
    found = run(conn, _BATCH, {"batch_id": batch_id})
    if not found:
        return None
    b = found[0]
    counts = {r.status: r.n for r in run(conn, _COUNTS, {"batch_id": batch_id})}
    return BatchSummary(b.batch_id, b.item_count, b.accepted_count, b.rejected_count,
                        b.created_at, counts)


def batch_items(conn: Connection, batch_id: str, *, after: int, limit: int) -> list[BatchItem]:
    """The accepted items after position `after`, in request order."""
    return [BatchItem(r.position, r.command_id, r.status, r.reason, r.reason_detail,
                      r.settled_by, r.settled_at, r.failed_at)
            for r in run(conn, _ITEMS, {"batch_id": batch_id, "after": after,
                                        "limit": limit})]


__all__ = ["BatchItem", "BatchSummary", "CommandRow", "accept_many",
           "batch_items", "batch_summary", "fingerprints", "record_batch"]
