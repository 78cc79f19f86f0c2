"""SIGTERM mid-task: the worker finishes what it runs (warm shutdown), exits 0, loses nothing."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
import redis

from app.config import get_settings
from app.services.fleet import fleet_status, priority_lists
from tests.support import Worker, wait_for

pytestmark = pytest.mark.fault


def test_sigterm_mid_task_finishes_it_and_loses_nothing(service_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue = f"fault-sigterm-{uuid.uuid4().hex[:8]}"
    broker = redis.Redis.from_url(get_settings().celery_broker_url)
    first = Worker(service_env, tmp_path / "first.log", queues=queue, concurrency=1).start()
    running = celery_app.send_task("maintenance.sleep", kwargs={"seconds": 4}, queue=queue)
    waiting = celery_app.send_task("maintenance.sleep", kwargs={"seconds": 0.5}, queue=queue)
    wait_for(lambda: running.state == "STARTED", timeout=20, what="the long task started")

    # Only the main process, as `make run`, docker and Kubernetes signal it; the pool children
    # reset SIGTERM to its default and would die mid-task if the whole group were signalled.
    assert first.process is not None
    os.kill(first.process.pid, signal.SIGTERM)
    assert first.process.wait(timeout=30) == 0
    assert running.state == "SUCCESS", "warm shutdown must let the running task finish"
    assert running.result == {"slept": 4.0}

    # The task it never started is back in (or still in) the queue for the next worker.
    second = Worker(service_env, tmp_path / "second.log", queues=queue, concurrency=1).start()
    try:
        wait_for(lambda: waiting.state == "SUCCESS", timeout=30, what="the queued task run")
    finally:
        second.stop()

    # Exactly once each: every run of a task bumps the queue's completion counter once.
    [row] = fleet_status(broker, get_settings(), [], queues=[queue], window_seconds=600)
    assert row.completed == 2
    assert sum(int(broker.llen(name)) for name in priority_lists(queue)) == 0
    unacked = broker.hvals("unacked")
    assert not [v for v in unacked if running.id.encode() in v or waiting.id.encode() in v]
