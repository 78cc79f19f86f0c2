"""Engine, sessions and the unit of work. One transaction per unit of work; commit explicitly."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings

Statement = tuple[str, Mapping[str, Any]]  # psycopg `%(name)s` SQL and its parameters
# A unit of work's connection, or the driver's own one.
DriverConnection = Connection | psycopg.Connection[Any]


@lru_cache(maxsize=4)
def _engine_for(url: str, pool_size: int, pre_ping: bool) -> Engine:
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        # Statement parameters hold personal data and key hashes: an error's text, which
        # tasks and the web log, must never carry them.
        hide_parameters=True,
    )


def get_engine() -> Engine:
    settings = get_settings()
    return _engine_for(settings.database_url, settings.database_pool_size,
                       settings.database_pre_ping)


@lru_cache(maxsize=4)
def _factory_for(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def session_factory() -> sessionmaker[Session]:
    return _factory_for(get_engine())


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """Yield a session in a transaction: committed when the block ends, rolled back on error."""
    session = session_factory()()
    try:
        with session.begin():
            yield session
    finally:
        session.close()


def ping(session: Session) -> datetime:
    """One round trip in the unit of work's transaction; the database's clock."""
    server_time: datetime = run_on_driver(session.connection(), "SELECT now() AS now", {})[0].now
    return server_time


def dispose_after_fork() -> None:
    """A forked child must not reuse the parent's sockets; drop them without closing them."""
    get_engine().dispose(close=False)


def run_on_driver(conn: DriverConnection, sql: str, params: Mapping[str, Any]) -> list[Any]:
    """Run one statement (psycopg `%(name)s` parameters) in the unit of work's transaction
    through psycopg itself; rows come back as named tuples.

    For the few statements every settlement runs: SQLAlchemy's per-execution result handling
    costs about as much CPU as psycopg's whole execution (measured in-process: 340 µs against
    157 µs for a one-row, 13-column SELECT), and these rows need none of it. Errors come out
    as SQLAlchemy's, so callers (and the tasks' retry rules) see one vocabulary.
    """
    driver = _driver(conn)
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    except psycopg.Error as error:
        raise _translated(error, sql, params) from error


def run_together(conn: Connection, statements: Sequence[Statement]) -> list[list[Any]]:
    """Run statements in order in one round trip (psycopg's pipeline mode), in the unit of
    work's transaction; returns each one's rows (named tuples; [] for a statement without).

    Only for statements that do not need each other's results from Python: the second may
    read what the first locked or wrote, since they run in order in one transaction. The
    first error stops the rest and is raised, as SQLAlchemy's.
    """
    driver = _driver(conn)
    cursors = []
    try:
        with driver.pipeline():
            for sql, params in statements:
                cursor = driver.cursor(row_factory=namedtuple_row)
                cursor.execute(sql, params)
                cursors.append(cursor)
        return [cursor.fetchall() if cursor.description else [] for cursor in cursors]
    except psycopg.Error as error:
        raise _translated(error, "; ".join(sql for sql, _ in statements), {}) from error
    finally:
        for cursor in cursors:
            cursor.close()


def _driver(conn: DriverConnection) -> psycopg.Connection[Any]:
    if isinstance(conn, psycopg.Connection):
        return conn
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def _translated(error: psycopg.Error, sql: str, params: Mapping[str, Any]) -> BaseException:
    """The exception SQLAlchemy itself would raise: a deadlock or a dropped connection
    becomes its OperationalError, a constraint violation its IntegrityError."""
    return DBAPIError.instance(sql, dict(params), error, psycopg.Error, hide_parameters=True)


def lock_key_for_transaction(session: Session, key: str) -> None:
    """Serialise the transactions that name `key` (a transaction-scoped advisory lock, released
    at commit or rollback)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})
