"""The Celery app factory, the project task decorator, and per-process hooks.

`create_celery_app(settings)` builds an app from the Settings it is given, as
`web.create_app(settings)` does for the API; `celery_app` (also `tasks:app`, for `celery -A
tasks`) is the process's default app, whose settings are read from the environment when it is
first configured, not when this module is imported. Tasks are registered on every app the
factory makes (`fusion_task` declares them shared).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from celery import Celery, Task, signals
from sqlalchemy.exc import DBAPIError

import celeryconfig
from app.config import Settings, get_settings
from app.logs import bind, clear, configure_logging, get_logger
from app.persistence.db import dispose_after_fork
from app.services.worker_health import delivery_budget_problem
from tasks import fleet_signals
from tasks.reconnect import SweepOnReconnect
from tasks.transient import TRANSIENT_DB_ERRORS, invalidated_as_connection_lost

TASK_MODULES = (
    "tasks.settlement", "tasks.maintenance", "tasks.inbound", "tasks.risk", "tasks.compliance",
    "tasks.batch",
    "tasks.alerts", "tasks.task_metrics", "tasks.task_logging",
)

log = get_logger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def create_celery_app(settings: Settings | None = None) -> Celery:
    """A Celery app configured from `settings` (default: the environment's, read lazily)."""
    # An app built for other settings (a test's) does not become the process's current app.
    app = Celery("fusion_prime", set_as_current=settings is None)
    if settings is not None:
        # Celery prefers CELERY_RESULT_BACKEND from the environment to its configuration, but
        # not to the app's own backend URL (the broker: broker_read_url in settings_config).
        app.backend_cls = settings.celery_result_backend
    app.config_from_object("celeryconfig")
    # Evaluated when the app is first configured, so importing this module reads no settings.
    app.add_defaults(lambda: celeryconfig.settings_config(settings or get_settings()))
    app.conf.imports = TASK_MODULES
    app.steps["consumer"].add(SweepOnReconnect)
    return app


class FusionTask(Task):  # type: ignore[misc]
    """Base of every task: binds ids into the log context, logs the outcome once, and counts
    deliveries so a task that keeps killing its worker is quarantined (tasks/fleet_signals.py)."""

    @classmethod
    def bind(cls, app: Celery) -> Any:
        # Before Celery wraps the task in its autoretry, which reads this ceiling once.
        # A foreign app (without our configuration) gets Celery's default ceiling, 600 s.
        cls.retry_backoff_max = int(app.conf.get("fusion_retry_backoff_max", 600))
        return super().bind(app)

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
    defaults: dict[str, Any] = {
        "name": name,
        "base": FusionTask,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": TRANSIENT_DB_ERRORS,
        "dont_autoretry_for": (),
        "retry_backoff": 1,
        "retry_jitter": True,
        "max_retries": 10,
        "serializer": "json",
    }
    defaults.update(options)
    # Bound to the default app (not a proxy to whichever app is current) and, as Celery's
    # shared tasks are, also registered on every other app when it is finalised.
    register = celery_app.task(shared=True, **defaults)

    def decorate(fn: F) -> F:
        return register(invalidated_as_connection_lost(fn))  # type: ignore[no-any-return]

    return decorate


celery_app = create_celery_app()


def producer_only() -> None:
    """For processes that send tasks but never wait on them (gunicorn, the bridge).

    On every send the Redis result backend subscribes to the task's result channel, so a
    long-running producer piles up subscriptions and, worse, a send then depends on the result
    store: when Redis blips, the backend gives up reconnecting for good and sends hang. Celery
    skips that subscription in processes that cannot join on results, which these are.
    """
    from celery._state import _set_task_join_will_block  # noqa: PLC0415 - celery's own switch

    _set_task_join_will_block(True)


@signals.setup_logging.connect  # type: ignore[untyped-decorator]
def _setup_logging(**_: Any) -> None:
    settings = get_settings()
    configure_logging("worker", settings.log_level, json=settings.log_json)


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_a_short_visibility_timeout(sender: Any = None, **_: Any) -> None:
    conf = (sender.app if sender is not None else celery_app).conf
    limits = [float(conf.task_time_limit or 0)] + [
        float(options.get("time_limit") or 0)
        for options in (conf.task_annotations or {}).values() if isinstance(options, dict)]
    problem = delivery_budget_problem(
        float(conf.broker_transport_options.get("visibility_timeout", 3600)),
        max(limits), float(conf.fusion_retry_backoff_max))
    if problem is not None:
        # SystemExit, not an exception: Celery logs and ignores those from signal handlers.
        raise SystemExit(f"refusing to start this worker: {problem}")


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _after_fork(**_: Any) -> None:
    dispose_after_fork()


if TYPE_CHECKING:
    from tasks.senders import (
        SEND_RETRY_POLICY,
        send_command_task,
        send_routed,
        send_routed_batch,
    )

_MOVED_TO_SENDERS = {"send_command_task", "send_routed", "send_routed_batch",
                     "SEND_RETRY_POLICY"}


def __getattr__(name: str) -> Any:
    # The senders live in tasks.senders (no import circle with the hooks); this keeps
    # `from tasks.celery_app import send_command_task` working for code not yet moved.
    if name in _MOVED_TO_SENDERS:
        from tasks import senders  # noqa: PLC0415

        return getattr(senders, name)
    raise AttributeError(name)


__all__ = ["SEND_RETRY_POLICY", "TRANSIENT_DB_ERRORS", "DBAPIError", "FusionTask", "celery_app",
           "create_celery_app", "fusion_task", "producer_only", "send_command_task", "send_routed",
           "send_routed_batch"]
