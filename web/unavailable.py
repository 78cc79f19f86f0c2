"""Which failures mean "a dependency is down, try again shortly" (503 + Retry-After), not a
bug (500): the database unreachable or restarting, or the broker / result store unreachable.

The database's faults are the ones tasks retry (tasks/transient.py: refused or dropped
connections in SQLAlchemy's and psycopg's shapes, deadlocks, pool timeouts). The broker's
are kombu's connection errors and redis-py's, which the result backend raises directly.
"""

from __future__ import annotations

import redis
from kombu.exceptions import OperationalError as KombuOperationalError

from tasks.transient import is_transient

# Long enough for a PostgreSQL or Redis restart to finish; clients should back off from there.
RETRY_AFTER_SECONDS = 5

_BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KombuOperationalError, redis.ConnectionError, redis.TimeoutError)


def unavailable_dependency(exc: BaseException) -> str | None:
    """'database' or 'broker' when exc (or what caused it) says that one is unreachable."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if is_transient(current):
            return "database"
        if isinstance(current, _BROKER_ERRORS):
            return "broker"
        current = current.__cause__ or current.__context__
    return None
