"""The risk service's SQL: margin valuations (locking the accounts' risk rows), storing
margin results, daily closes, and the batch recompute's chunk plan, counters and cancellation.

Set-based on purpose: one account and a chunk of thousands run the same statements (see
app/services/risk/margin.py and publish.py for the rules around them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

# account_id, alert_status, health_score, collateral_usd, borrow_usd, unpriced assets
ValuationRow = Row[str, str | None, Decimal | None, Decimal, Decimal, list[str]]
# chunk_no, first_id, accounts
ChunkRow = Row[int, str, int]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which accounts: a list of ids, or the id range [lower, upper) of a batch chunk,
    optionally only those holding `asset` (a price move touches only its holders)."""

    account_ids: Sequence[str] | None = None
    lower: str | None = None
    upper: str | None = None
    asset: str | None = None

    def where(self, alias: Literal["a", "p"] = "a") -> tuple[str, dict[str, Any]]:
        """SQL condition on the accounts (alias a, with the asset filter) or on the positions
        (alias p: every position of the accounts in range)."""
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if self.account_ids is not None:
            clauses.append(f"{alias}.account_id = ANY(CAST(:ids AS text[]))")
            params["ids"] = list(self.account_ids)
        if self.lower is not None:
            clauses.append(f"{alias}.account_id >= :lower")
            params["lower"] = self.lower
        if self.upper is not None:
            clauses.append(f"{alias}.account_id < :upper")
            params["upper"] = self.upper
        if alias == "a" and self.asset is not None:
            # The range repeated on e lets PostgreSQL read (asset, account_id) index entries of
            # this chunk only, instead of hashing every holder of the asset.
            held = ["e.asset = :asset", "e.account_id = a.account_id"]
            if self.lower is not None:
                held.append("e.account_id >= :lower")
            if self.upper is not None:
                held.append("e.account_id < :upper")
            condition = " AND ".join(held)  # our literal fragments; values are bound parameters
            clauses.append(f"EXISTS (SELECT 1 FROM risk_positions e WHERE {condition})")  # noqa: S608
            params["asset"] = self.asset
        return " AND ".join(clauses), params


# Locks first (in account-id order, so overlapping batches and single recalculations never
# deadlock), then values. The positions are read by the same id range (an index range scan),
# not joined to the locked rows, which would make PostgreSQL scan every position per chunk.
# trim_scale drops the 36 trailing zero decimals of NUMERIC(38,18) products, exactly, which
# makes the Decimal maths that follows much cheaper.
_QUERY = """
WITH locked AS MATERIALIZED (
    SELECT a.account_id, a.alert_status, a.health_score
      FROM risk_accounts a
     WHERE {accounts}
     ORDER BY a.account_id
       FOR UPDATE
), valued AS (
    SELECT p.account_id,
           trim_scale(sum((p.collateral + p.escrowed) * v.unit)) AS collateral_usd,
           trim_scale(sum(p.borrowed * v.unit)) AS borrow_usd,
           array_agg(p.asset) FILTER (WHERE v.unit IS NULL) AS unpriced
      FROM risk_positions p
      LEFT JOIN risk_prices r ON r.asset = p.asset
     CROSS JOIN LATERAL (
         SELECT CASE WHEN p.asset = :numeraire THEN 1
                     WHEN r.price_time >= :fresh_since THEN r.price_usd END AS unit) v
     WHERE {positions}
       AND (p.collateral <> 0 OR p.borrowed <> 0 OR p.escrowed <> 0)
     GROUP BY p.account_id
)
SELECT l.account_id, l.alert_status, l.health_score,
       coalesce(v.collateral_usd, 0), coalesce(v.borrow_usd, 0), coalesce(v.unpriced, '{{}}')
  FROM locked l
  LEFT JOIN valued v ON v.account_id = l.account_id
 ORDER BY l.account_id
"""


def lock_and_value(session: Session, selection: Selection, *, numeraire: str,
                   fresh_since: datetime) -> Sequence[ValuationRow]:
    """Lock the selected accounts' risk rows (in id order) and value them: rows of
    (account_id, alert_status, health_score, collateral_usd, borrow_usd, unpriced assets),
    by account id. A price older than `fresh_since` counts as no price."""
    accounts, params = selection.where("a")
    positions, _ = selection.where("p")
    return session.execute(text(_QUERY.format(accounts=accounts, positions=positions)), {
        **params, "numeraire": numeraire, "fresh_since": fresh_since}).all()


# One JSON document in, one statement out: snapshot rows, their outbox rows (the row
# app.services.outbox.record_event writes, in bulk) and the accounts' latest status. A chunk
# stores thousands of rows; a round trip per row (executemany) would dominate its run time, and
# building the risk.snapshots.v1 `margin.snapshot` payload here costs less than sending and
# parsing it as JSON. An UNKNOWN result keeps the last known status and score: margin events
# compare against them. PostgreSQL guesses 100 rows for json_to_recordset and would hash-join
# every account; the ANY(ARRAY(...)) condition makes it look them up by primary key instead.
_STORE_RESULTS = text("""
WITH input AS MATERIALIZED (
    SELECT * FROM json_to_recordset(CAST(:rows AS json))
        AS u(account_id text, status text, score numeric, c numeric, b numeric, drop numeric,
             im numeric, mm numeric, unpriced text[], score_text text, c_text text,
             b_text text, drop_text text, im_text text, mm_text text)
), snapshots AS (
    INSERT INTO risk_snapshots (account_id, status, health_score, total_collateral_usd,
                                total_borrow_usd, liquidation_price_drop_percent,
                                initial_margin_usd, maintenance_margin_usd, unpriced_assets,
                                cause, batch_id, calculated_at)
    SELECT account_id, status, score, c, b, drop, im, mm, unpriced, :cause, :batch_id, :now
      FROM input
), published AS (
    INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
    SELECT CAST(gen_random_uuid() AS text), :topic, :event_type, account_id,
           jsonb_build_object(
               'account_id', account_id, 'status', status, 'health_score', score_text,
               'total_collateral_usd', c_text, 'total_borrow_usd', b_text,
               'liquidation_price_drop_percent', drop_text, 'initial_margin_usd', im_text,
               'maintenance_margin_usd', mm_text, 'unpriced_assets', to_jsonb(unpriced),
               'cause', CAST(:cause AS text), 'batch_id', CAST(:batch_id AS text),
               'calculated_at', CAST(:stamp AS text), 'occurred_at', CAST(:stamp AS text)),
           0
      FROM input
)
UPDATE risk_accounts AS a
   SET status = u.status,
       alert_status = CASE WHEN u.status = 'UNKNOWN' THEN a.alert_status ELSE u.status END,
       health_score = CASE WHEN u.status = 'UNKNOWN' THEN a.health_score ELSE u.score END,
       calculated_at = :now, updated_at = :now
  FROM input AS u
 WHERE a.account_id = u.account_id
   AND a.account_id = ANY(ARRAY(SELECT account_id FROM input))
""")

_RECORD_OUTBOX_ROWS = text("""
INSERT INTO outbox (id, topic, event_type, aggregate_id, payload, attempts)
SELECT CAST(gen_random_uuid() AS text), u.topic, u.event_type, u.aggregate_id, u.payload, 0
  FROM json_to_recordset(CAST(:rows AS json))
       AS u(topic text, event_type text, aggregate_id text, payload jsonb)
""")


def store_results(session: Session, rows: Sequence[Mapping[str, Any]], *, cause: str,
                  batch_id: str | None, now: datetime, topic: str, event_type: str) -> None:
    """Snapshots, their outbox rows (`topic`, `event_type`) and the accounts' latest status,
    from one row per account (the keys of _STORE_RESULTS's input record)."""
    session.execute(_STORE_RESULTS, {"rows": json.dumps(rows), "cause": cause,
                                     "batch_id": batch_id, "now": now,
                                     "stamp": now.isoformat(), "topic": topic,
                                     "event_type": event_type})


def record_outbox_rows(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Outbox rows, each a topic, event_type, aggregate_id and JSON payload."""
    session.execute(_RECORD_OUTBOX_ROWS, {"rows": json.dumps(rows)})


# The last tick of each UTC day is that day's close.
_CLOSES = text("""
SELECT DISTINCT ON (asset, day) asset, day, price_usd
  FROM (SELECT asset, price_usd, price_time,
               (price_time AT TIME ZONE 'UTC')::date AS day
          FROM risk_price_history
         WHERE asset = ANY(CAST(:assets AS text[])) AND price_time >= :since) AS ticks
 ORDER BY asset, day, price_time DESC
""")


def daily_close_rows(session: Session, assets: Sequence[str],
                     since: datetime) -> list[tuple[str, date, Decimal]]:
    """(asset, day, close) of every UTC day since `since`, by asset and day."""
    return [(asset, day, price) for asset, day, price
            in session.execute(_CLOSES, {"assets": list(assets), "since": since})]


# Chunk k holds the accounts ranked k·size .. (k+1)·size - 1 by id; it is stored as the id range
# [first id of k, first id of k+1), so accounts created meanwhile still fall in some chunk.
_PLAN = """
SELECT chunk_no, min(account_id) AS first_id, count(*) AS accounts
  FROM (SELECT a.account_id,
               (row_number() OVER (ORDER BY a.account_id) - 1) / :size AS chunk_no
          FROM risk_accounts a WHERE {where}) AS ranked
 GROUP BY chunk_no
 ORDER BY chunk_no
"""


def plan_chunks(session: Session, selection: Selection, size: int) -> Sequence[ChunkRow]:
    """Rows of (chunk_no, first_id, accounts) for the selected accounts, by chunk_no."""
    where, params = selection.where()
    return session.execute(text(_PLAN.format(where=where)), {**params, "size": size}).all()


# The batch row is locked last and only for this statement's remaining transaction, so
# concurrent chunks serialise just on their counters; the chunk that completes the count
# finishes the batch. A chunk that was running when its batch was cancelled still counts, and
# the batch stays cancelled.
_COUNT = text("""
UPDATE risk_batches
   SET chunks_done = chunks_done + :done, chunks_failed = chunks_failed + :failed,
       accounts_done = accounts_done + :accounts,
       accounts_failed = accounts_failed + :accounts_failed,
       events_emitted = events_emitted + :events,
       status = CASE WHEN status = 'cancelled' THEN status
                     WHEN chunks_done + chunks_failed + :done + :failed < total_chunks THEN status
                     WHEN chunks_failed + :failed > 0 THEN 'completed_with_failures'
                     ELSE 'completed' END,
       finished_at = CASE WHEN status = 'cancelled' THEN finished_at
                          WHEN chunks_done + chunks_failed + :done + :failed < total_chunks
                          THEN finished_at ELSE :now END
 WHERE batch_id = :batch_id
RETURNING status
""")


def count_chunk(session: Session, batch_id: str, now: datetime, *, done: int, failed: int,
                accounts: int, accounts_failed: int, events: int) -> str:
    """Add a finished chunk to its batch's counters; returns the batch's status after it."""
    return str(session.execute(_COUNT, {
        "batch_id": batch_id, "now": now, "done": done, "failed": failed,
        "accounts": accounts, "accounts_failed": accounts_failed, "events": events,
    }).scalar_one())


# Pending chunks a worker is not holding right now; those it holds finish on their own.
_CANCEL_PENDING_CHUNKS = text("""
        UPDATE risk_batch_chunks SET status = 'cancelled', finished_at = :now
         WHERE (batch_id, chunk_no) IN (
               SELECT batch_id, chunk_no FROM risk_batch_chunks
                WHERE batch_id = :id AND status = 'pending' FOR UPDATE SKIP LOCKED)""")


def cancel_pending_chunks(session: Session, batch_id: str, now: datetime) -> None:
    session.execute(_CANCEL_PENDING_CHUNKS, {"id": batch_id, "now": now})


def latest_price(session: Session, asset: str) -> tuple[Decimal, datetime] | None:
    """The latest price of `asset` in USD and its time, when the risk tables exist and hold
    one (compliance reads prices without depending on the risk area being installed)."""
    if session.execute(text("SELECT to_regclass('risk_prices')")).scalar() is None:
        return None
    row = session.execute(text("SELECT price_usd, price_time FROM risk_prices WHERE asset = :a"),
                          {"a": asset}).first()
    return (Decimal(row[0]), row[1]) if row is not None else None
