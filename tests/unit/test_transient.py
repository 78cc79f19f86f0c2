"""Which task errors are retried (tasks/transient.py)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError

from tasks.transient import ConnectionLost, invalidated_as_connection_lost, is_transient


def _wrapped(error: Exception, *, invalidated: bool) -> DBAPIError:
    exc = DBAPIError.instance("SELECT 1", {}, error, psycopg.Error,
                              connection_invalidated=invalidated)
    assert isinstance(exc, DBAPIError)
    return exc


def test_connection_faults_in_every_shape_are_transient() -> None:
    assert is_transient(psycopg.OperationalError("connection refused"))
    assert is_transient(psycopg.errors.DeadlockDetected("deadlock detected"))
    assert is_transient(_wrapped(psycopg.OperationalError("gone"), invalidated=False))
    invalidated = _wrapped(psycopg.InterfaceError("the connection is closed"), invalidated=True)
    assert isinstance(invalidated, InterfaceError) and is_transient(invalidated)


def test_a_constraint_violation_or_a_bug_is_not() -> None:
    assert not is_transient(_wrapped(psycopg.errors.UniqueViolation("dup"), invalidated=False))
    assert not is_transient(_wrapped(psycopg.InterfaceError("misuse"), invalidated=False))
    assert not is_transient(ValueError("bug"))


def test_the_task_wrapper_names_an_invalidated_connection_for_celery() -> None:
    def lost() -> None:
        raise _wrapped(psycopg.InterfaceError("the connection is closed"), invalidated=True)

    def duplicate() -> None:
        raise _wrapped(psycopg.errors.UniqueViolation("dup"), invalidated=False)

    with pytest.raises(ConnectionLost):
        invalidated_as_connection_lost(lost)()
    with pytest.raises(IntegrityError):
        invalidated_as_connection_lost(duplicate)()
