"""Whether a Celery worker does its job, from what the broker and the worker report (pure).

`celery inspect ping` only proves the worker's control thread answers: a worker that stopped
consuming after a broker reconnect (a known Celery failure) still answers it. Healthy here
means the worker's own queue is among the queues it consumes, and it is not idle while a
message of that queue has waited longer than the stall bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerReport:
    queues: Sequence[str]  # from the worker's active_queues reply
    processes: int  # its pool processes now
    active: int  # tasks it runs now


def worker_problems(report: WorkerReport | None, queue: str, oldest_waiting_seconds: float | None,
                    stall_seconds: float) -> list[str]:
    """Why the worker is unhealthy; empty when it is healthy."""
    if report is None:
        return ["the worker did not answer on the broker"]
    if queue not in report.queues:
        consumed = ", ".join(report.queues) or "none"
        return [f"the worker does not consume {queue!r} (its queues: {consumed})"]
    idle = report.active < max(report.processes, 1)
    if idle and oldest_waiting_seconds is not None and oldest_waiting_seconds > stall_seconds:
        return [f"a message has waited {oldest_waiting_seconds:.0f}s on {queue!r} while the "
                f"worker runs {report.active} of {report.processes} processes: it is not "
                "consuming"]
    return []


def delivery_budget_problem(visibility_timeout: float, hard_time_limit: float,
                            longest_retry_countdown: float) -> str | None:
    """Redis hands an unacked message to another worker after the visibility timeout; a task
    may hold its message for its retry countdown and then its whole hard time limit."""
    held = hard_time_limit + longest_retry_countdown
    if visibility_timeout > held:
        return None
    return (f"CELERY_VISIBILITY_TIMEOUT ({visibility_timeout:g}s) must be above the hard time "
            f"limit plus the longest retry countdown (the longer of CELERY_TASK_TIME_LIMIT and "
            f"CELERY_LONG_TASK_TIME_LIMIT, {hard_time_limit:g}s, + CELERY_RETRY_BACKOFF_MAX "
            f"{longest_retry_countdown:g}s = {held:g}s), or Redis delivers running tasks a "
            "second time")
