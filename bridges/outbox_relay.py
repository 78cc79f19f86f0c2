"""Outbox relay: publish committed outbox rows to Pub/Sub as CloudEvents, in order per aggregate.

At least once: a row is marked published only after Pub/Sub returned its message id, in the
transaction that holds the row's lock; a relay that dies in between leaves the row unmarked and
another relay publishes it again (consumers dedupe on ce-id). Several relays may run: rows are
claimed with FOR UPDATE SKIP LOCKED, and an aggregate whose earlier rows are held by another
relay (or that committed after our claim) waits for a later round, so an aggregate's events
never overtake each other on a topic.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import psycopg
from google.api_core import exceptions as gexc
from google.api_core.retry import Retry, if_exception_type
from google.cloud import pubsub_v1
from sqlalchemy import Engine, create_engine, make_url, select, text
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.persistence.models import OutboxEvent
from bridges.pubsub import publisher as make_publisher
from bridges.pubsub import topic_path

log = logging.getLogger(__name__)

_TRANSIENT = if_exception_type(
    gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.Aborted, gexc.InternalServerError,
    gexc.ResourceExhausted, gexc.Cancelled, gexc.Unknown,
)
# Per (topic, aggregate) in the batch: the first unpublished row that is NOT in the batch and
# comes before the batch's last row of that key. SKIP LOCKED makes a batch a non-contiguous
# slice (another relay holds the rows in between, or they committed after our claim); rows
# past such a gap must wait for the next round or they would overtake it.
_BARRIER_SQL = text("""
    SELECT o.topic, o.aggregate_id, min(o.seq)
    FROM unnest(CAST(:topics AS text[]), CAST(:aggregates AS text[]),
                CAST(:last_seqs AS bigint[])) AS m(topic, aggregate_id, last_seq)
    JOIN outbox o ON o.topic = m.topic AND o.aggregate_id = m.aggregate_id
                 AND o.seq < m.last_seq
    WHERE o.published_at IS NULL AND o.seq <> ALL(CAST(:batch AS bigint[]))
    GROUP BY o.topic, o.aggregate_id
""")
_LAG_SQL = text("""
    SELECT EXTRACT(EPOCH FROM clock_timestamp() - created_at) FROM outbox
    WHERE published_at IS NULL ORDER BY seq LIMIT 1
""")
_BASE_BACKOFF = 0.5
_DEFERRED_RETRY = 0.1


def _describe(exc: BaseException) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def cloud_event(row: OutboxEvent) -> tuple[bytes, dict[str, str]]:
    """CloudEvents 1.0 binary mode: the body is the event data, the context is attributes."""
    kind = row.event_type.split(".", 1)[0] if "." in row.event_type else "outbox"
    created = row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    attributes = {
        "ce-specversion": "1.0",
        "ce-id": row.id,
        "ce-type": row.event_type,
        "ce-source": f"fusion-prime/{kind}",
        "ce-time": created,
        "content-type": "application/json",
    }
    data = json.dumps(row.payload, separators=(",", ":"), ensure_ascii=False).encode()
    return data, attributes


class OutboxRelay:
    """One relay loop. Counters (published, failed, last_lag_seconds, ...) are for metrics."""

    def __init__(self, settings: Settings | None = None, *, engine: Engine | None = None,
                 publisher: pubsub_v1.PublisherClient | None = None,
                 publish_timeout: float = 30.0) -> None:
        self.settings = settings or get_settings()
        self._own_engine = engine is None
        self.engine = engine or create_engine(self.settings.database_url, pool_size=2,
                                              max_overflow=2, pool_pre_ping=True)
        self.publisher = publisher or make_publisher(self.settings)
        self.publish_timeout = publish_timeout
        # Bounded retries so a future always resolves within our wait.
        self._retry = Retry(initial=0.1, maximum=5.0, multiplier=2.0, timeout=publish_timeout,
                            predicate=_TRANSIENT)
        self.published = 0
        self.failed = 0
        self.rounds = 0
        self.last_claimed = 0
        self.last_deferred = 0  # rows of the last batch left for a later round (order)
        self.deferred = 0
        self.last_lag_seconds = 0.0
        self.last_error: str | None = None
        self.failing_rounds = 0  # consecutive rounds with a failure and no progress
        self._had_failures = False
        self._own_publisher = publisher is None

    # -- one round ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch, publish it, mark what Pub/Sub accepted; returns rows published."""
        batch = self.settings.outbox_batch_size
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            rows = session.scalars(
                select(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.seq).limit(batch).with_for_update(skip_locked=True)
            ).all()
            barrier = self._barriers(session, rows) if rows else {}
            sendable = [row for row in rows
                        if row.seq < barrier.get((row.topic, row.aggregate_id), row.seq + 1)]
            done, failures = self._publish(sendable)
            now = datetime.now(UTC)
            for row in done:
                row.published_at = now
            for row, error in failures:
                row.attempts += 1
                row.last_error = error[:2000]
        self.rounds += 1
        self.last_claimed, self.last_deferred = len(rows), len(rows) - len(sendable)
        self.deferred += self.last_deferred
        self.published += len(done)
        self.failed += len(failures)
        if failures:
            self.last_error = failures[-1][1]
            self.failing_rounds = 0 if done else self.failing_rounds + 1
        else:
            self.failing_rounds = 0
        self._had_failures = bool(failures)
        self._measure_lag()
        return len(done)

    def _barriers(self, session: Session, rows: Sequence[OutboxEvent]
                  ) -> dict[tuple[str, str], int]:
        last: dict[tuple[str, str], int] = {}
        for row in rows:
            last[(row.topic, row.aggregate_id)] = row.seq
        found = session.execute(_BARRIER_SQL, {
            "topics": [topic for topic, _ in last], "aggregates": [agg for _, agg in last],
            "last_seqs": list(last.values()), "batch": [row.seq for row in rows]})
        return {(topic, aggregate): seq for topic, aggregate, seq in found}

    def _publish(self, rows: Sequence[OutboxEvent]
                 ) -> tuple[list[OutboxEvent], list[tuple[OutboxEvent, str]]]:
        """Publish in seq order; a row counts as done only if every earlier row of its
        (topic, ordering key) in this batch is done too. Pub/Sub orders per topic + key, so
        that is the scope of the order we keep."""
        pending: list[tuple[OutboxEvent, str, Future[str] | None, str]] = []
        refused: set[tuple[str, str]] = set()  # keys whose publish() raised: send no more
        for row in rows:
            topic = topic_path(self.settings, row.topic)
            if (topic, row.aggregate_id) in refused:
                continue
            try:
                data, attributes = cloud_event(row)
                future: Future[str] | None = self.publisher.publish(
                    topic, data, ordering_key=row.aggregate_id, retry=self._retry,
                    timeout=self.publish_timeout, **attributes)
                error = ""
            except Exception as exc:  # e.g. a message over the size limit
                future, error = None, _describe(exc)
                refused.add((topic, row.aggregate_id))
            pending.append((row, topic, future, error))

        deadline = time.monotonic() + self.publish_timeout + 5.0
        done: list[OutboxEvent] = []
        failures: list[tuple[OutboxEvent, str]] = []
        broken: set[tuple[str, str]] = set()  # keys with a failed row: later rows must wait
        for row, topic, future, publish_error in pending:
            error = publish_error
            if future is not None:
                try:
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception as exc:  # any failure leaves the row unmarked
                    error = _describe(exc)
            if (topic, row.aggregate_id) in broken:
                continue  # held back behind an earlier failure: neither marked nor blamed
            if error:
                broken.add((topic, row.aggregate_id))
                failures.append((row, error))
                self._resume(topic, row.aggregate_id)
            else:
                done.append(row)
        if failures:
            log.warning("outbox relay: %d of %d publishes failed; last: %s",
                        len(failures), len(rows), failures[-1][1])
        return done, failures

    def _resume(self, topic: str, ordering_key: str) -> None:
        # The client pauses an ordering key after a failed publish; without this every later
        # publish on the key fails at once, forever.
        # Not paused (a timeout, an encoding error before publish): nothing to resume.
        with contextlib.suppress(RuntimeError, ValueError):
            self.publisher.resume_publish(topic, ordering_key)

    def _measure_lag(self) -> None:
        try:
            with self.engine.connect() as conn:
                lag = conn.execute(_LAG_SQL).scalar()
        except Exception:  # a metric must never stop the relay
            return
        self.last_lag_seconds = float(lag) if lag is not None else 0.0

    # -- the loop ----------------------------------------------------------------------------

    def drain(self, stop: threading.Event | None = None) -> int:
        """Run rounds while they come back full and clean; returns rows published."""
        total = 0
        batch = self.settings.outbox_batch_size
        while stop is None or not stop.is_set():
            published = self.run_once()
            total += published
            if self._had_failures or published == 0 or self.last_claimed < batch:
                break
        return total

    def backoff_seconds(self) -> float:
        """Pause after a failing round: short while others make progress, growing otherwise."""
        ceiling = self.settings.outbox_max_backoff_seconds
        delay = min(ceiling, _BASE_BACKOFF * 2.0 ** min(self.failing_rounds, 30))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security

    def run_forever(self, stop: threading.Event) -> None:
        """Wake on NOTIFY outbox (or every outbox_poll_seconds) and drain; until stop is set."""
        listener: psycopg.Connection[Any] | None = None
        try:
            while not stop.is_set():
                if listener is None:
                    listener = self._listen()  # before draining, so no commit slips between
                self._had_failures = False
                try:
                    self.drain(stop)
                except Exception as exc:  # database down: back off, retry
                    log.exception("outbox relay round failed")
                    self.last_error = _describe(exc)
                    self.failing_rounds += 1
                    self._had_failures = True
                if self._had_failures:
                    stop.wait(self.backoff_seconds())
                elif self.last_deferred:
                    # Another relay is publishing what we deferred; its commit sends no NOTIFY.
                    stop.wait(_DEFERRED_RETRY)
                else:
                    listener = self._wait(listener, stop)
        finally:
            if listener is not None:
                listener.close()

    def _listen(self) -> psycopg.Connection[Any] | None:
        url = make_url(self.settings.database_url).set(drivername="postgresql")
        try:
            conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                                   connect_timeout=10)
            conn.execute("LISTEN outbox")
        except psycopg.Error as exc:
            log.warning("outbox relay: LISTEN failed (%s); polling instead", exc)
            return None
        return conn

    def _wait(self, listener: psycopg.Connection[Any] | None,
              stop: threading.Event) -> psycopg.Connection[Any] | None:
        poll = self.settings.outbox_poll_seconds
        if listener is None:
            stop.wait(poll)
            return None
        try:
            for _ in listener.notifies(timeout=poll, stop_after=1):
                pass
            for _ in listener.notifies(timeout=0):
                pass  # coalesce the burst: one round serves every commit so far
        except psycopg.Error as exc:
            log.warning("outbox relay: LISTEN connection lost (%s)", exc)
            listener.close()
            return None
        return listener

    def close(self) -> None:
        """Flush the publisher and release the pool this relay created."""
        if self._own_publisher:
            with contextlib.suppress(RuntimeError):  # already stopped
                self.publisher.stop()
        if self._own_engine:
            self.engine.dispose()
