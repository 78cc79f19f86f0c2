"""Fleet-wide task counts by name and state, kept in the broker's Redis for the API's /metrics.

Every worker process adds to one hash (HINCRBY is atomic, so no process owns the totals and a
restarted worker loses nothing). Counting costs no round trip of its own: each process buffers
its counts (and the other hooks' end-of-task writes, such as the fleet's completion counters,
queued with `deferred`) and sends them in the pipeline the next task's start sends anyway
(tasks/fleet_signals.py: begin), or, when no task starts, from a background thread at most
FLUSH_INTERVAL_SECONDS later. A per-task round trip in the consumer (for `received`) and one
at each task's end cost more than a stock Celery task's whole overhead here, so they moved
out of the per-task path; a scrape may see a count up to that interval late.
Metrics are best effort: a Redis error is logged and the task carries on; counts buffered in a
process that is killed are lost with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import current_app, signals
from redis.client import Pipeline

from app.logs import get_logger
from app.services.ops_metrics import TASK_COUNTS_KEY, task_field
from tasks.broker_client import broker_redis

log = get_logger(__name__)

# Names that are not registered tasks come off the broker as the sender wrote them: fold them
# into one label so a bad producer cannot grow the hash (or the scrape) without bound.
UNREGISTERED = "<unregistered>"
FLUSH_INTERVAL_SECONDS = 0.5

_lock = threading.Lock()
_pending: Counter[str] = Counter()
_deferred: list[Callable[[Any], object]] = []
_flusher_pid: int | None = None


def deferred(write: Callable[[Any], object]) -> None:
    """Queue `write(pipeline)` for the next flush (the next task's start, or the flusher)."""
    with _lock:
        _deferred.append(write)
    _ensure_flusher()


def drain_into(pipe: Pipeline) -> None:
    """Add what is buffered to `pipe`, which the caller executes (one round trip for both)."""
    with _lock:
        counts, writes = dict(_pending), list(_deferred)
        _pending.clear()
        _deferred.clear()
    for name, n in counts.items():
        pipe.hincrby(TASK_COUNTS_KEY, name, n)
    for write in writes:
        write(pipe)


def flush() -> None:
    """Send what is buffered now."""
    with _lock:
        if not _pending and not _deferred:
            return
    client = broker_redis()
    if client is None:
        with _lock:
            _pending.clear()
            _deferred.clear()
        return
    try:
        pipe = client.pipeline(transaction=False)
        drain_into(pipe)
        pipe.execute()
    except Exception as exc:  # a metric must never fail or delay a task beyond its timeout
        log.warning("task_metrics.write_failed", error=type(exc).__name__)


def _ensure_flusher() -> None:
    # One daemon thread per process, started on first use: a forked pool process has none
    # of its parent's threads, hence the pid check.
    global _flusher_pid  # noqa: PLW0603
    if _flusher_pid == os.getpid():
        return
    with _lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    threading.Thread(target=_flush_now_and_then, name="task-metrics-flush", daemon=True).start()


def _flush_now_and_then() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL_SECONDS)
        flush()


def _after_fork_in_child() -> None:
    # A pool process forked while the parent's flusher held the lock would inherit it held;
    # what the parent buffered is the parent's to send.
    global _lock, _flusher_pid  # noqa: PLW0603
    _lock = threading.Lock()
    _pending.clear()
    _deferred.clear()
    _flusher_pid = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def count(task_name: str | None, state: str) -> None:
    with _lock:
        _pending[task_field(task_name or UNREGISTERED, state)] += 1
    _ensure_flusher()


def _name(sender: Any = None, request: Any = None) -> str | None:
    name = getattr(sender, "name", None) or getattr(request, "name", None)
    return name if isinstance(name, str) else None


@signals.task_received.connect  # type: ignore[untyped-decorator]
def _received(request: Any = None, **_: Any) -> None:
    count(_name(request=request), "received")


@signals.task_prerun.connect  # type: ignore[untyped-decorator]
def _started(sender: Any = None, **_: Any) -> None:
    count(_name(sender), "started")


@signals.task_success.connect  # type: ignore[untyped-decorator]
def _succeeded(sender: Any = None, **_: Any) -> None:
    count(_name(sender), "succeeded")


@signals.task_failure.connect  # type: ignore[untyped-decorator]
def _failed(sender: Any = None, **_: Any) -> None:
    count(_name(sender), "failed")


@signals.task_retry.connect  # type: ignore[untyped-decorator]
def _retried(sender: Any = None, request: Any = None, **_: Any) -> None:
    count(_name(sender, request), "retried")


@signals.task_internal_error.connect  # type: ignore[untyped-decorator]
def _internal_error(sender: Any = None, **_: Any) -> None:
    count(_name(sender), "internal_error")


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _flush_at_exit(**_: Any) -> None:
    flush()


@signals.task_revoked.connect  # type: ignore[untyped-decorator]
def _revoked(request: Any = None, sender: Any = None, expired: bool = False, **_: Any) -> None:
    count(_name(sender, request), "expired" if expired else "revoked")


@signals.task_rejected.connect  # type: ignore[untyped-decorator]
def _rejected(message: Any = None, **_: Any) -> None:
    headers = getattr(message, "headers", None) or {}
    name = headers.get("task") if isinstance(headers, dict) else None
    # The app whose consumer rejected it (this module imports no app: no cycle with it).
    count(name if name in current_app.tasks else None, "rejected")


@signals.task_unknown.connect  # type: ignore[untyped-decorator]
def _unknown(**_: Any) -> None:
    count(None, "unknown")
