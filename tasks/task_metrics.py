"""Fleet-wide task counts by name and state, kept in the broker's Redis for the API's /metrics.

Every worker process adds to one hash (HINCRBY is atomic, so no process owns the totals and a
restarted worker loses nothing). A pool process buffers the states of the task it is running
and sends them in one pipelined call when the task ends; states seen outside a task run (the
consumer's received/rejected/revoked, a hard time limit noticed by the parent) go at once.
Other hooks' writes at the end of a task (the fleet's completion counters) ride in the same
pipeline through `at_task_end`, so a task costs one round trip here, not one per hook.
Metrics are best effort: a Redis error is logged and the task carries on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from celery import current_app, signals

from app.logs import get_logger
from app.services.ops_metrics import TASK_COUNTS_KEY, task_field
from tasks.broker_client import broker_redis

log = get_logger(__name__)

# Names that are not registered tasks come off the broker as the sender wrote them: fold them
# into one label so a bad producer cannot grow the hash (or the scrape) without bound.
UNREGISTERED = "<unregistered>"

_pending: Counter[str] = Counter()
_deferred: list[Callable[[Any], object]] = []
_in_task = False


def at_task_end(write: Callable[[Any], object]) -> bool:
    """Queue `write(pipeline)` for the pipeline sent when the running task ends; False (and
    nothing queued) outside a task run, where the caller writes at once."""
    if _in_task:
        _deferred.append(write)
    return _in_task


def _flush() -> None:
    if not _pending and not _deferred:
        return
    counts, writes = dict(_pending), list(_deferred)
    _pending.clear()
    _deferred.clear()
    client = broker_redis()
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(TASK_COUNTS_KEY, name, n)
        for write in writes:
            write(pipe)
        pipe.execute()
    except Exception as exc:  # a metric must never fail or delay a task beyond its timeout
        log.warning("task_metrics.write_failed", error=type(exc).__name__)


def count(task_name: str | None, state: str) -> None:
    _pending[task_field(task_name or UNREGISTERED, state)] += 1
    if not _in_task:
        _flush()


def _name(sender: Any = None, request: Any = None) -> str | None:
    name = getattr(sender, "name", None) or getattr(request, "name", None)
    return name if isinstance(name, str) else None


@signals.task_received.connect  # type: ignore[untyped-decorator]
def _received(request: Any = None, **_: Any) -> None:
    count(_name(request=request), "received")


@signals.task_prerun.connect  # type: ignore[untyped-decorator]
def _started(sender: Any = None, **_: Any) -> None:
    global _in_task  # noqa: PLW0603
    _in_task = True
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


@signals.task_postrun.connect  # type: ignore[untyped-decorator]
def _ended(**_: Any) -> None:
    global _in_task  # noqa: PLW0603
    _in_task = False
    _flush()


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
