"""`fusion-prime fleet status` against a queue seeded with a known number of tasks."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app.config import WORKER_QUEUES, get_settings
from app.domain.fleet import recommended_workers
from tests.support import Worker, wait_for

pytestmark = pytest.mark.integration

SEEDED = 7


def _status(queue: str) -> dict[str, Any]:
    from cli.main import cli  # noqa: PLC0415

    result = CliRunner().invoke(cli, ["fleet", "status", "--json", "--queue", queue,
                                      "--timeout", "1"])
    assert result.exit_code == 0, result.output
    rows = {row["queue"]: row for row in json.loads(result.output)["queues"]}
    assert set(WORKER_QUEUES) <= set(rows)  # the configured queues always show
    return rows[queue]


def _follows_formula(row: dict[str, Any]) -> bool:
    return row["recommended_workers"] == recommended_workers(
        row["depth"], row["per_worker_per_second"], row["target_drain_seconds"],
        row["autoscale_min"])


@pytest.fixture
def queue() -> Iterator[str]:
    name = f"fleet-test-{uuid.uuid4().hex[:8]}"
    yield name
    import redis  # noqa: PLC0415

    from app.services.fleet import priority_lists  # noqa: PLC0415

    redis.Redis.from_url(get_settings().celery_broker_url).delete(*priority_lists(name))


def test_status_of_a_seeded_queue(service_env: dict[str, str], queue: str,
                                  tmp_path: Path) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    for n in range(SEEDED):
        celery_app.send_task("maintenance.noop", kwargs={"command_id": f"seed-{n}"}, queue=queue)
        if n == 0:
            first_sent = time.time()  # the stamp is taken before send_task returns
    time.sleep(1.0)

    asked_at = time.time()
    row = _status(queue)
    assert row["depth"] == SEEDED
    assert row["oldest_age_seconds"] >= asked_at - first_sent >= 1.0
    assert row["consumers"] == 0 and row["processes"] == 0
    assert row["completed"] == 0 and row["per_worker_per_second"] is None
    assert _follows_formula(row)
    assert row["recommended_workers"] == 1  # a backlog with no measured rate: one to start it

    worker = Worker(service_env, tmp_path / "worker.log", queues=queue, concurrency=1).start()
    try:
        row = wait_for(lambda: (r := _status(queue))["consumers"] >= 1 and r, timeout=20,
                       what="the worker reported as a consumer")
        assert row["processes"] >= 1
        drained = wait_for(lambda: (r := _status(queue))["completed"] == SEEDED and r,
                           timeout=30, what="the seeded tasks counted as completed")
    finally:
        worker.stop()
    assert drained["depth"] == 0 and drained["oldest_age_seconds"] is None
    assert drained["throughput_per_second"] > 0
    assert drained["per_worker_per_second"] is not None
    assert drained["recommended_workers"] == 0  # empty, and an unconfigured queue has min 0


def test_recommendation_uses_the_measured_rate(service_env: dict[str, str], queue: str,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    worker = Worker(service_env, tmp_path / "worker.log", queues=queue, concurrency=1).start()
    try:
        for _ in range(SEEDED):
            celery_app.send_task("maintenance.sleep", kwargs={"seconds": 0.2}, queue=queue)
        wait_for(lambda: _status(queue)["completed"] == SEEDED, timeout=30, what="warm-up")
    finally:
        worker.stop()
    backlog = 30
    for _ in range(backlog):
        celery_app.send_task("maintenance.sleep", kwargs={"seconds": 0.2}, queue=queue)
    # 4-5 tasks a second per process (0.2 s each plus overhead): 30 in 2.5 s needs 3 at any
    # rate in that range (30 / 12.5 = 2.4 up to 30 / 10 = 3).
    monkeypatch.setenv("FLEET_TARGET_DRAIN_SECONDS", "2.5")
    get_settings.cache_clear()
    try:
        row = _status(queue)
    finally:
        monkeypatch.delenv("FLEET_TARGET_DRAIN_SECONDS")
        get_settings.cache_clear()
    assert row["depth"] == backlog and row["consumers"] == 0
    assert 4.0 <= row["per_worker_per_second"] <= 5.0
    assert _follows_formula(row)
    assert row["recommended_workers"] == 3
