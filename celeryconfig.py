"""Celery configuration: the fixed part at module level, and `settings_config(settings)` for
what comes from the one Settings object (see app/config.py and the README). The app factory
(tasks/celery_app.py: create_celery_app) applies both; nothing here reads settings at import.

Delivery is at-least-once and effects are exactly-once in Postgres, so the worker may run a
task twice but must never lose one: acks are late, and a task whose worker died is requeued.
"""

from typing import Any

from celery.schedules import crontab
from kombu.entity import Exchange, Queue

from app.config import WORKER_QUEUES, Settings

# No broker_transport: kombu's own for the URL's scheme. A custom one crashed workers on a Redis
# restart (restoring unacked messages through a cleared client) and hid the broker from Flower.
broker_connection_retry_on_startup = True

# JSON only: a serialised Python object on the broker would be remote code execution.
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
event_serializer = "json"

QUEUES = WORKER_QUEUES
task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
                    for name in QUEUES)
task_default_queue = "settlement"
# One table routes every task by its `area.verb` name; a new area needs one line here.
task_routes = {
    "settlement.*": {"queue": "settlement"},
    "maintenance.*": {"queue": "settlement"},
    "risk.*": {"queue": "risk"},
    "compliance.*": {"queue": "compliance"},
    "alerts.*": {"queue": "alerts"},
    "batch.*": {"queue": "batch"},
}

task_acks_late = True
task_reject_on_worker_lost = True
# Settlement tasks lock rows and move money: a worker takes one message at a time, so a slow
# task never strands others in its local buffer while idle workers wait.
worker_prefetch_multiplier = 1
task_track_started = True
# A worker that lost its broker connection cannot ack what it runs (acks are late): cancel those
# tasks at once, so their messages are redelivered, rather than finish work nobody can ack.
worker_cancel_long_running_tasks_on_connection_loss = True
# Workers emit task events (Flower reads them); producers do not add a second publish per send.
task_send_sent_event = False
worker_send_task_events = True
result_expires = 7 * 24 * 3600
result_extended = True

# Redis hands an unacked message to another worker after `visibility_timeout` seconds. Too
# short and a task still running (or waiting on a retry countdown) is delivered twice; too long
# and a killed worker's message waits that long. The default, 300 s, is five times the hard time
# limit (60 s) and above the longest retry countdown (60 s), and the command sweeper
# (COMMAND_SWEEP_AFTER_SECONDS) re-sends stuck settlement commands well before that anyway.
# (visibility_timeout comes from the settings: settings_config below)
broker_transport_options = {
    "queue_order_strategy": "priority",
    # kombu 5.7 looks for expired unacked messages on every 10th restore tick only, i.e. about
    # every 100 s: a killed worker's tasks came back up to that long after their visibility
    # timeout. One cheap scan (a ZRANGE under a mutex) on every 10 s tick instead.
    "unacked_restore_throttle": 1,
}

# (the command sweep's entry comes from the settings: settings_config below)
beat_schedule = {
    # Every account, set-based, each night; price moves recompute only the exposed accounts.
    "risk-nightly-recompute": {
        "task": "batch.risk_nightly",
        "schedule": crontab(hour=2, minute=0),
        "options": {"expires": 3600},
    },
    # Every ledger invariant, set-based, each night (after the risk recompute); breaks alert.
    "ledger-nightly-reconciliation": {
        "task": "batch.reconcile_ledger",
        "schedule": crontab(hour=3, minute=0),
        "options": {"expires": 3600},
    },
    "reconciliation-sweep": {"task": "batch.reconcile_sweep", "schedule": 300.0,
                             "options": {"expires": 300.0}},
    # Batch chunks, price recomputes and calculations whose message was lost.
    "risk-sweep": {"task": "risk.sweep", "schedule": 60.0, "options": {"expires": 60.0}},
    # Alerts held for quiet hours, and deliveries whose send was lost or whose worker died.
    "release-held-alerts": {
        "task": "alerts.release_held",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    },
    # Queue depths and outbox lag, once a minute, for the console's overview charts.
    "sample-ops": {"task": "maintenance.sample_ops", "schedule": 60.0,
                   "options": {"expires": 60.0}},
    # Inbox rows processed longer than INBOX_RETENTION_DAYS ago.
    "prune-inbox": {"task": "maintenance.prune_inbox", "schedule": crontab(hour=4, minute=45),
                    "options": {"expires": 3600}},
    # Margin-health snapshots past RISK_SNAPSHOT_RETENTION_DAYS (each account keeps its newest).
    "risk-prune-snapshots": {
        "task": "risk.prune_snapshots",
        "schedule": crontab(hour=4, minute=30),
        "options": {"expires": 3600},
    },
    # Checks and screenings accepted but never sent (the send after commit was lost).
    "resend-pending-compliance": {
        "task": "compliance.resend_pending",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
timezone = "UTC"
enable_utc = True


# Tasks that may legitimately run longer than CELERY_TASK_TIME_LIMIT.
LONG_TASKS = ("batch.reconcile_check",)


def long_task_limits(settings: Settings) -> dict[str, int]:
    hard = settings.celery_long_task_time_limit
    # The soft limit leaves the check time to end itself failed: 30 s, or a fifth of a short
    # hard limit (the test suite's 25 s).
    return {"time_limit": hard, "soft_time_limit": max(1, hard - min(30, hard // 5))}


def settings_config(settings: Settings) -> dict[str, Any]:
    """The configuration that comes from Settings: servers, time limits, intervals."""
    visibility = {"visibility_timeout": settings.celery_visibility_timeout}
    sweep = settings.command_sweep_interval_seconds
    return {
        "broker_url": settings.celery_broker_url,
        # Celery reads CELERY_BROKER_URL from the environment before broker_url, but these
        # two first: the Settings passed to the app factory win.
        "broker_read_url": settings.celery_broker_url,
        "broker_write_url": settings.celery_broker_url,
        "result_backend": settings.celery_result_backend,
        "task_soft_time_limit": settings.celery_task_soft_time_limit,
        "task_time_limit": settings.celery_task_time_limit,
        "task_annotations": {task: long_task_limits(settings) for task in LONG_TASKS},
        # The base task's autoretry ceiling (tasks/celery_app.py: FusionTask.bind).
        "fusion_retry_backoff_max": settings.celery_retry_backoff_max,
        "broker_transport_options": {**broker_transport_options, **visibility},
        "result_backend_transport_options": visibility,
        "beat_schedule": {
            "sweep-stuck-commands": {"task": "maintenance.sweep_commands", "schedule": sweep,
                                     "options": {"expires": sweep}},
            **beat_schedule,
        },
    }
