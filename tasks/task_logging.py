"""Celery's own log lines as JSON with the same ids as ours (loaded through conf.imports).

FusionTask binds the ids while the task body runs; Celery logs a task's receipt before that and
its success after it, so those lines take the ids from Celery's current task (or the `data`
Celery attaches to the record) instead. The worker's ASCII banner and beat's own name are
fixed here too, so every line of a worker or beat log parses as JSON.
"""

from __future__ import annotations

import ast
import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from celery import signals
from celery._state import get_current_task
from celery.apps import worker as worker_program

from app.config import get_settings
from app.logs import add_context, configure_logging, get_logger, set_service

log = get_logger(__name__)


def task_context(record: logging.LogRecord | None) -> dict[str, str | None]:
    task = get_current_task()
    request: Any = getattr(task, "request", None)
    if task is not None and getattr(request, "id", None):
        kwargs = request.kwargs if isinstance(request.kwargs, dict) else {}
        return {"task_id": request.id, "task_name": task.name,
                "command_id": _text(kwargs.get("command_id")),
                "message_id": _text(kwargs.get("message_id"))}
    # The consumer's "Task ... received" line: Celery passes the request's id, name and
    # kwargs repr along; our command tasks' kwargs are just {'command_id': ...}.
    data = getattr(record, "data", None)
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return {"task_id": data["id"], "task_name": _text(data.get("name")),
                "command_id": _command_id(data.get("kwargs"))}
    return {}


def _command_id(kwargs_repr: Any) -> str | None:
    if not isinstance(kwargs_repr, str) or "command_id" not in kwargs_repr:
        return None
    try:
        kwargs = ast.literal_eval(kwargs_repr) if len(kwargs_repr) < 1000 else None
    except (ValueError, SyntaxError):
        return None
    return _text(kwargs.get("command_id")) if isinstance(kwargs, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


add_context(task_context)


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _name_beat(**_: Any) -> None:
    # Connected after tasks.celery_app's handler (which names every Celery process "worker").
    if "beat" in sys.argv[1:]:
        set_service("beat")


@signals.celeryd_init.connect  # type: ignore[untyped-decorator]
def _configure_early(**_: Any) -> None:
    """Celery configures logging only after its start-up checks, whose warnings (running as
    root, say) would reach stderr as raw text; configured here they are JSON lines too."""
    settings = get_settings()
    configure_logging("worker", settings.log_level, json=settings.log_json)
    if settings.log_json:
        worker_program.safe_say = _say_as_json


def _say_as_json(msg: str, f: Any = sys.__stderr__) -> None:
    # Celery says "worker: Warm shutdown" from a signal handler with a raw write (taking the
    # logging lock there could deadlock); the line is rendered here and written the same way.
    line = json.dumps({"event": msg.strip(), "level": "info", "logger": "celery.apps.worker",
                       "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                       "service": "worker"})
    with contextlib.suppress(OSError, ValueError, AttributeError):  # best effort, as Celery's
        os.write(f.fileno(), (line + "\n").encode())


@signals.celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _banner_as_json(sender: str, instance: Any, **_: Any) -> None:
    """Replace the worker's multi-line text banner (printed right after this signal unless the
    worker runs with --quiet) with one JSON line saying the same."""
    if not get_settings().log_json:
        return
    instance.quiet = True
    queues = sorted(q.name for q in instance.app.amqp.queues.consume_from.values())
    log.info("worker.starting", hostname=sender, queues=queues,
             concurrency=getattr(instance, "concurrency", None),
             pool=getattr(getattr(instance, "pool_cls", None), "__name__", None))
