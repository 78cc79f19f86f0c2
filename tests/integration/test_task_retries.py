"""A connection dropped mid-task and a deadlock inside a task are retried to success on a real
worker; both reach the task as psycopg's own errors (statements on the driver's connection),
which the task's retry list must name as well as SQLAlchemy's."""

from __future__ import annotations

import random
import threading

import psycopg
import pytest
from sqlalchemy import text

from tests.support import Worker, wait_for

pytestmark = pytest.mark.integration


def _probe_backends() -> list[int]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.persistence.fault_probes import SLEEP_MARK  # noqa: PLC0415

    with unit_of_work() as session:
        return list(session.scalars(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'active' AND query LIKE :mark AND pid <> pg_backend_pid()"),
            {"mark": f"%{SLEEP_MARK}"}))


def test_a_connection_dropped_mid_task_is_retried_to_success(worker: Worker) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from tasks.celery_app import celery_app  # noqa: PLC0415

    result = celery_app.send_task("maintenance.probe_sleep", kwargs={"seconds": 3})
    (pid,) = wait_for(_probe_backends, timeout=30, what="the task's statement running")
    with unit_of_work() as session:
        assert session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    outcome = result.get(timeout=60)
    assert outcome["retries"] >= 1, "the task never saw its connection drop"


def test_a_deadlock_inside_a_task_is_retried_to_success(worker: Worker) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    first, second = random.sample(range(10**6, 10**9), 2)
    runs = [celery_app.send_task("maintenance.probe_locks",
                                 kwargs={"keys": keys, "pause_seconds": 1.0})
            for keys in ([first, second], [second, first])]
    outcomes = [run.get(timeout=90) for run in runs]
    # PostgreSQL breaks the cycle by failing one of the two; that one must have come back.
    assert sorted(o["retries"] > 0 for o in outcomes) == [False, True], outcomes


def test_the_driver_raises_its_own_error_on_a_dropped_connection(service_env: dict[str, str]
                                                                 ) -> None:
    """What the task above meets: not SQLAlchemy's class, so Celery would not have retried."""
    from app.persistence import fault_probes  # noqa: PLC0415
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from tasks.transient import is_transient  # noqa: PLC0415

    errors: list[BaseException] = []

    def sleep() -> None:
        try:
            fault_probes.sleep_on_driver(3)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=sleep)
    thread.start()
    (pid,) = wait_for(_probe_backends, timeout=10, what="the statement running")
    with unit_of_work() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    thread.join(timeout=10)
    assert len(errors) == 1 and isinstance(errors[0], psycopg.OperationalError), errors
    assert is_transient(errors[0])
