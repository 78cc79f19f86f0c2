"""The SQL behind the API's fleet-wide /metrics (app/services/ops_metrics.py): counts and ages
over the outbox, the dead letters and the margin events."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

_OUTBOX_SQL = text("""
    SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL),
           (SELECT EXTRACT(EPOCH FROM clock_timestamp() - created_at) FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT 1)
""")
_DEAD_LETTERS_SQL = text("""
    SELECT reason, replayed_at IS NULL AS pending, count(*) FROM dead_letters GROUP BY 1, 2
""")
_MARGIN_EVENTS_SQL = text("SELECT event_type, count(*) FROM risk_margin_events GROUP BY 1")


def limit_statement_time(session: Session, milliseconds: int) -> None:
    """Every later statement of this transaction fails after `milliseconds`."""
    session.execute(text(f"SET LOCAL statement_timeout = {int(milliseconds)}"))


def outbox_lag(session: Session) -> tuple[int, float | None]:
    """How many outbox rows are unsent, and the oldest one's age in seconds (None: none)."""
    unsent, age = session.execute(_OUTBOX_SQL).one()
    return int(unsent), None if age is None else float(age)


def dead_letter_counts(session: Session) -> list[tuple[str, bool, int]]:
    """(reason, still pending (not replayed), count) of the dead letters."""
    return [(reason, bool(pending), int(count))
            for reason, pending, count in session.execute(_DEAD_LETTERS_SQL)]


def margin_event_counts(session: Session) -> dict[str, int]:
    """Margin events by event type."""
    return {kind: int(n) for kind, n in session.execute(_MARGIN_EVENTS_SQL)}
