"""Periodic housekeeping (celery beat), the no-op task the benchmark compares against, the
database ping, and the harmless slow task the shutdown tests use."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import current_task

from app.config import get_settings
from app.persistence import fault_probes
from app.persistence.db import ping, unit_of_work
from app.services import inbox
from app.services.commands import sweep_stuck_commands
from tasks import task_metrics
from tasks.celery_app import fusion_task
from tasks.senders import send_command_task, send_routed

INBOX_RESENT = "inbox_resent"


@fusion_task("maintenance.sweep_commands")
def sweep_commands(enqueued_after: float | None = None) -> dict[str, Any]:
    """Re-send commands accepted but never run, and inbound events acked but never applied;
    enqueue only after the sweep commits.

    Beat sends it bare: commands waiting longer than COMMAND_SWEEP_AFTER_SECONDS. A worker
    that reconnects to the broker sends it with `enqueued_after` (a Unix time shortly before
    the connection dropped): every command still waiting that was sent from then on, however
    recently, since the broker may have lost those (tasks/reconnect.py)."""
    now = datetime.now(UTC)
    if enqueued_after is None:
        bound, since = timedelta(seconds=get_settings().command_sweep_after_seconds), None
    else:
        bound, since = timedelta(0), datetime.fromtimestamp(float(enqueued_after), UTC)
    with unit_of_work() as session:
        stuck = sweep_stuck_commands(session, now, bound, enqueued_after=since)
    for command_id, task_name in stuck:
        send_command_task(task_name, command_id)
    return {"resent": len(stuck), "inbox_resent": resend_inbox(datetime.now(UTC))}


def resend_inbox(now: datetime) -> int:
    """Send again the task of every inbox row its consumer has not processed in time."""
    after = get_settings().inbox_resend_after
    with unit_of_work() as session:
        due = inbox.due_for_resend(session, now, after)
    for routed in due:
        send_routed(routed)
        # fusion_tasks_total{state="inbox_resent"}: tasks a broker lost, or that failed.
        task_metrics.count(routed.task_name, INBOX_RESENT)
    return len(due)


@fusion_task("maintenance.prune_inbox")
def prune_inbox() -> dict[str, Any]:
    """Nightly: inbox rows processed longer than INBOX_RETENTION_DAYS ago, in chunks."""
    retention = timedelta(days=get_settings().inbox_retention_days)
    pruned = 0
    while True:
        with unit_of_work() as session:
            gone = inbox.prune_processed(session, datetime.now(UTC), retention)
        pruned += gone
        if gone < inbox.SWEEP_LIMIT:
            return {"pruned": pruned}


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

    # The retry tests' probes: a statement whose backend the test terminates, and advisory locks
    # that two runs take in opposite orders. Each reports how many retries it took to succeed.
    @fusion_task("maintenance.probe_sleep")
    def probe_sleep(seconds: float) -> dict[str, Any]:
        fault_probes.sleep_on_driver(min(float(seconds), SLEEP_CAP_SECONDS))
        return {"retries": current_task.request.retries}

    @fusion_task("maintenance.probe_locks")
    def probe_locks(keys: list[int], pause_seconds: float) -> dict[str, Any]:
        fault_probes.lock_in_order([int(k) for k in keys], min(float(pause_seconds), 5.0))
        return {"retries": current_task.request.retries}

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
