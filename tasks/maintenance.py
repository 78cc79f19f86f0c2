"""Periodic housekeeping (celery beat), the no-op task the benchmark compares against, the
database ping, and the harmless slow task the shutdown tests use."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import get_settings
from app.persistence.db import ping, unit_of_work
from app.services.commands import sweep_stuck_commands
from tasks.celery_app import fusion_task, send_command_task


@fusion_task("maintenance.sweep_commands")
def sweep_commands() -> dict[str, Any]:
    """Re-send commands accepted but never run; enqueue only after the sweep commits."""
    bound = timedelta(seconds=get_settings().command_sweep_after_seconds)
    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, datetime.now(UTC), bound)
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    return {"resent": len(stuck)}


@fusion_task("maintenance.noop")
def noop(command_id: str | None = None) -> dict[str, Any]:
    return {"command_id": command_id, "status": "noop"}


@fusion_task("maintenance.ping_database")
def ping_database() -> dict[str, Any]:
    """The cheapest task with a unit of work: one statement in one transaction. It tells an
    operator that a worker reaches PostgreSQL (`celery -A tasks call maintenance.ping_database`),
    and the benchmark what any task that touches the database costs before it does any work."""
    with unit_of_work() as session:
        server_time = ping(session)
    return {"status": "ok", "database_time": server_time.isoformat()}


# Long enough to be caught mid-run by a shutdown, far below the soft time limit (50 s).
SLEEP_CAP_SECONDS = 30.0


@fusion_task("maintenance.sleep")
def sleep(seconds: float = 1.0) -> dict[str, Any]:
    """Hold a worker process for a while (capped); changes nothing."""
    slept = min(max(float(seconds), 0.0), SLEEP_CAP_SECONDS)
    time.sleep(slept)
    return {"slept": slept}


CRASH_CONFIRMATION = "kill-this-worker-process"

if get_settings().fusion_env == "test":
    # Only test workers know this task (FUSION_ENV=test), and it still wants a confirmation:
    # it is the poison task of the quarantine test, exiting its pool process without cleanup.
    @fusion_task("maintenance.crash_worker", max_retries=0)
    def crash_worker(confirm: str = "") -> None:
        if confirm != CRASH_CONFIRMATION:
            raise ValueError("maintenance.crash_worker needs confirm=" + CRASH_CONFIRMATION)
        os._exit(70)


@fusion_task("maintenance.sample_ops")
def sample_ops() -> dict[str, Any]:
    """One sample of queue depths and the outbox's lag for the console's overview charts."""
    from app.config import WORKER_QUEUES  # noqa: PLC0415
    from app.services import ops_history, ops_metrics  # noqa: PLC0415
    from app.services.queries.overview import outbox_now  # noqa: PLC0415
    from tasks.broker_client import broker_redis  # noqa: PLC0415

    client = broker_redis()
    if client is None:  # not a Redis broker: nowhere to keep samples
        return {"sampled": False}
    now = datetime.now(UTC)
    with unit_of_work() as session:
        outbox = outbox_now(session, now)
    depths = ops_metrics.broker_figures(client, WORKER_QUEUES).queue_depth
    ops_history.record(client, ops_history.Sample(now, depths, outbox.unsent,
                                                  outbox.oldest_age_seconds))
    return {"sampled": True, "queue_depth": depths, "outbox_unsent": outbox.unsent}
