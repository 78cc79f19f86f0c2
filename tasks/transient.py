"""Which errors in a task are worth another try, in one place (the project task decorator
retries them with backoff).

A dropped or refused connection, a deadlock and a serialisation failure pass; a constraint
violation or a bug does not, and retrying it would only hide it. The same fault reaches a task
in three shapes: SQLAlchemy's OperationalError (sessions, pool checkout), psycopg's own
OperationalError (statements on the driver's connection, `engine.raw_connection()`), and any
SQLAlchemy DBAPIError that invalidated its connection (e.g. an InterfaceError on a socket the
server closed). The first two are classes Celery can match; the third is a property of the
instance, so the task body's wrapper re-raises it as ConnectionLost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

F = TypeVar("F", bound=Callable[..., Any])


class ConnectionLost(Exception):
    """A database error whose connection was invalidated: the server or network went away."""


TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, psycopg.OperationalError, PoolTimeout, ConnectionLost)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_DB_ERRORS):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def invalidated_as_connection_lost(fn: F) -> F:
    """Wrap a task body so that a connection-invalidating DBAPIError becomes ConnectionLost."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DBAPIError as exc:
            if exc.connection_invalidated and not isinstance(exc, TRANSIENT_DB_ERRORS):
                # The driver's error class only: its text may quote the statement's values.
                raise ConnectionLost(type(exc.orig).__name__) from exc
            raise

    return run  # type: ignore[return-value]
