"""`python -m tasks.health` against a real worker: healthy while it consumes its queue, and
unhealthy once it stops consuming it although it still answers `inspect ping`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support import ROOT, Worker, wait_for

pytestmark = pytest.mark.integration


def _health(node: str, queue: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tasks.health", node, "--queue", queue,
                           "--timeout", "5"], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_health_follows_consumption_not_ping(service_env: dict[str, str],
                                             tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    queue, name = f"health-{uuid.uuid4().hex[:6]}", f"health-{uuid.uuid4().hex[:6]}"
    node = f"{name}@{socket.gethostname()}"
    worker = Worker(service_env, tmp_path / "worker.log", queues=queue, concurrency=1,
                    name=name).start()
    try:
        healthy = _health(node, queue, service_env)
        assert healthy.returncode == 0, healthy.stderr
        assert _health(node, "some-other-queue", service_env).returncode == 1
        # What a worker looks like after the known reconnect failure: alive, not consuming.
        celery_app.control.cancel_consumer(queue, destination=[node], reply=True, timeout=5)
        wait_for(lambda: _health(node, queue, service_env).returncode == 1, timeout=30,
                 interval=0.5, what="health failing once the worker stopped consuming")
        assert celery_app.control.ping(destination=[node], timeout=5), "ping still answers"
        unhealthy = _health(node, queue, service_env)
        assert f"does not consume '{queue}'" in unhealthy.stderr
    finally:
        worker.stop()
    assert _health(node, queue, service_env).returncode == 1  # gone
