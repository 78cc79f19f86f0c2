"""Statements the fault tests run inside a real task: a long sleep on the driver's own
connection (so the test can terminate that backend mid-task) and advisory locks taken in a
given order (two tasks in opposite orders deadlock). Test workers only (tasks/maintenance.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from app.persistence.db import get_engine

# The tests find the backend to terminate by this text in pg_stat_activity.query.
SLEEP_MARK = "/* fusion fault probe */"


@contextmanager
def _driver_connection() -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection as psycopg's own, in autocommit: errors come out untranslated,
    as they do from any statement run on the driver."""
    pooled = get_engine().raw_connection()
    try:
        driver = pooled.driver_connection
        assert isinstance(driver, psycopg.Connection)
        driver.autocommit = True
        try:
            yield driver
        finally:
            try:
                driver.autocommit = False
            except psycopg.Error:
                pooled.invalidate()  # a broken connection; the pool opens a new one
    finally:
        pooled.close()


def sleep_on_driver(seconds: float) -> None:
    """One pg_sleep on a pooled connection through psycopg itself: a dropped connection
    surfaces as the driver's own OperationalError, untranslated."""
    with _driver_connection() as conn:
        conn.execute(f"SELECT pg_sleep(%s) {SLEEP_MARK}", (seconds,))


def lock_in_order(keys: Sequence[int], pause_seconds: float) -> None:
    """Take transaction-level advisory locks one by one with a pause after each, in one
    transaction on the driver's connection (a deadlock is psycopg's DeadlockDetected)."""
    with _driver_connection() as conn, conn.transaction():
        for key in keys:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            conn.execute("SELECT pg_sleep(%s)", (pause_seconds,))
