"""The Celery app, its project task decorator, and per-process hooks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from celery import Celery, Task, signals
from kombu.messaging import Producer
from sqlalchemy.exc import DBAPIError

from app.config import get_settings
from app.logs import bind, clear, configure_logging, get_logger
from app.messaging.routing import Routed
from app.persistence.db import dispose_after_fork
from tasks import fleet_signals
from tasks.transient import TRANSIENT_DB_ERRORS, invalidated_as_connection_lost

celery_app = Celery("fusion_prime")
celery_app.config_from_object("celeryconfig")
celery_app.conf.imports = (
    "tasks.settlement", "tasks.maintenance", "tasks.inbound", "tasks.risk", "tasks.compliance",
    "tasks.batch",
    "tasks.alerts", "tasks.task_metrics", "tasks.task_logging",
)

log = get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class FusionTask(Task):  # type: ignore[misc]
    """Base of every task: binds ids into the log context, logs the outcome once, and counts
    deliveries so a task that keeps killing its worker is quarantined (tasks/fleet_signals.py)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        bind(task_id=self.request.id, task_name=self.name,
             command_id=kwargs.get("command_id"), message_id=kwargs.get("message_id"))
        try:
            with fleet_signals.counted(self, args, kwargs):
                return super().__call__(*args, **kwargs)
        finally:
            clear("task_id", "task_name", "command_id", "message_id")

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                 einfo: Any) -> None:
        log.warning("task.retry", task_id=task_id, error=type(exc).__name__)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        log.error("task.failed", task_id=task_id, error=type(exc).__name__, detail=str(exc)[:500])


def fusion_task(name: str, **options: Any) -> Callable[[F], F]:
    """Register a task with the project's defaults, so no task can forget one."""
    settings = get_settings()
    defaults: dict[str, Any] = {
        "name": name,
        "base": FusionTask,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": TRANSIENT_DB_ERRORS,
        "dont_autoretry_for": (),
        "retry_backoff": 1,
        "retry_backoff_max": settings.celery_retry_backoff_max,
        "retry_jitter": True,
        "max_retries": 10,
        "serializer": "json",
    }
    defaults.update(options)
    register = celery_app.task(**defaults)

    def decorate(fn: F) -> F:
        return register(invalidated_as_connection_lost(fn))  # type: ignore[no-any-return]

    return decorate


def send_command_task(task_name: str, command_id: str) -> str:
    """Enqueue the task that runs a stored command; the command id is the task id."""
    celery_app.send_task(task_name, kwargs={"command_id": command_id}, task_id=command_id)
    return command_id


def producer_only() -> None:
    """For processes that send tasks but never wait on them (gunicorn, the bridge).

    On every send the Redis result backend subscribes to the task's result channel, so a
    long-running producer piles up subscriptions and, worse, a send then depends on the result
    store: when Redis blips, the backend gives up reconnecting for good and sends hang. Celery
    skips that subscription in processes that cannot join on results, which these are.
    """
    from celery._state import _set_task_join_will_block  # noqa: PLC0415 - celery's own switch

    _set_task_join_will_block(True)


# Fail fast to the caller (the bridge nacks, the sweeper retries later) instead of blocking.
SEND_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.1, "interval_step": 0.5,
                     "interval_max": 1.0}


def send_routed(routed: Routed, producer: Producer | None = None) -> str:
    """Enqueue an inbound event; returns once the broker accepted it, raises if it did not."""
    event = routed.event
    # A short repr: the default renders the whole payload into the message headers (CPU per
    # send, and payload data where monitoring tools display it).
    summary = f"{{'event_type': {event['event_type']!r}, 'dedup_key': {event['dedup_key']!r}}}"
    celery_app.send_task(routed.task_name, task_id=routed.task_id, queue=routed.queue,
                         kwargs={"event": event, "message_id": event["message_id"]},
                         argsrepr="()", kwargsrepr=summary, producer=producer,
                         retry=True, retry_policy=SEND_RETRY_POLICY)
    return routed.task_id


def send_routed_batch(batch: Sequence[Routed]) -> None:
    """Enqueue several inbound events in one broker round trip (a kombu publish batch: one
    Redis pipeline); returns once the broker accepted all of them, raises if it may not have."""
    with celery_app.producer_or_acquire() as producer, producer.batch(max_size=len(batch) + 1):
        for routed in batch:
            send_routed(routed, producer)


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging("worker", settings.log_level, json=settings.log_json)


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _after_fork(**_: Any) -> None:
    dispose_after_fork()


__all__ = ["TRANSIENT_DB_ERRORS", "DBAPIError", "FusionTask", "celery_app", "fusion_task",
           "send_command_task"]
