"""The worker health rules (app/services/worker_health.py) and the worker's refusal to start
with a visibility timeout that running tasks can outlast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.services.worker_health import WorkerReport, delivery_budget_problem, worker_problems

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_consuming_its_queue_is_healthy_even_when_busy() -> None:
    busy = WorkerReport(queues=["settlement"], processes=2, active=2)
    assert worker_problems(busy, "settlement", 500.0, 60) == []
    idle = WorkerReport(queues=["settlement"], processes=2, active=0)
    assert worker_problems(idle, "settlement", None, 60) == []
    assert worker_problems(idle, "settlement", 30.0, 60) == []


def test_silence_another_queue_or_idling_over_waiting_work_is_unhealthy() -> None:
    assert worker_problems(None, "risk", None, 60) == ["the worker did not answer on the broker"]
    (lost,) = worker_problems(WorkerReport(queues=[], processes=2, active=0), "risk", None, 60)
    assert "does not consume 'risk'" in lost
    stalled = WorkerReport(queues=["risk"], processes=2, active=1)
    (stall,) = worker_problems(stalled, "risk", 61.0, 60)
    assert "not consuming" in stall


def test_the_visibility_timeout_must_outlast_a_retried_task() -> None:
    assert delivery_budget_problem(300, 60, 60) is None
    assert delivery_budget_problem(30, 25, 4) is None
    problem = delivery_budget_problem(120, 60, 60)
    assert problem is not None and "CELERY_VISIBILITY_TIMEOUT (120s)" in problem


@pytest.mark.parametrize(("time_limit", "long_time_limit", "backoff"), [
    ("60", "60", "60"),
    # The reconciliation check's own limit counts too, not only the default one.
    ("30", "95", "10"),
])
def test_a_worker_refuses_to_start_with_a_short_visibility_timeout(
        time_limit: str, long_time_limit: str, backoff: str) -> None:
    env = {**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
           "CELERY_VISIBILITY_TIMEOUT": "100", "CELERY_TASK_TIME_LIMIT": time_limit,
           "CELERY_TASK_SOFT_TIME_LIMIT": "20", "CELERY_LONG_TASK_TIME_LIMIT": long_time_limit,
           "CELERY_RETRY_BACKOFF_MAX": backoff}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", "settlement", "-c", "1",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "refusing to start this worker: CELERY_VISIBILITY_TIMEOUT (100s)" in done.stderr


def test_workers_cancel_what_they_cannot_ack_when_the_broker_goes() -> None:
    import celeryconfig  # noqa: PLC0415

    assert celeryconfig.worker_cancel_long_running_tasks_on_connection_loss is True
