"""Periodic housekeeping (celery beat), the no-op task the benchmark compares against, the
database ping, and the harmless slow task the shutdown tests use."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from app.config import get_settings
from app.persistence.db import ping, unit_of_work
from app.services import inbox
from app.services.commands import sweep_stuck_commands
from tasks import task_metrics
from tasks.celery_app import fusion_task, send_command_task, send_routed

INBOX_RESENT = "inbox_resent"


@fusion_task("maintenance.sweep_commands")
def sweep_commands() -> dict[str, Any]:
    """Re-send commands accepted but never run, and inbound events acked but never applied;
    enqueue only after the sweep commits."""
    settings = get_settings()
    bound = timedelta(seconds=settings.command_sweep_after_seconds)
    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, datetime.now(UTC), bound)
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    return {"resent": len(stuck), "inbox_resent": resend_inbox(datetime.now(UTC))}


def resend_inbox(now: datetime) -> int:
    """Send again the task of every inbox row its consumer has not processed in time."""
    after = timedelta(seconds=get_settings().inbox_resend_after_seconds)
    with unit_of_work() as session:
        due = inbox.due_for_resend(session, now, after)
    for routed in due:
        send_routed(routed)
        # fusion_tasks_total{state="inbox_resent"}: tasks a broker lost, or that failed.
        task_metrics.count(routed.task_name, INBOX_RESENT)
    return len(due)


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
