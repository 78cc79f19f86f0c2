"""A worker's health check (compose healthcheck, k8s liveness probe):

    python -m tasks.health settlement@$HOSTNAME --queue settlement

Exit 0 when the worker answers, consumes its queue, and is not idle while that queue's oldest
message waits beyond --stall-seconds; else exit 1 saying why (app/services/worker_health.py).
"""

from __future__ import annotations

import argparse
import sys

import redis
from kombu.exceptions import OperationalError

from app.config import get_settings
from app.services import fleet
from app.services.worker_health import WorkerReport, worker_problems
from tasks.celery_app import celery_app


def report_of(node: str, timeout: float) -> WorkerReport | None:
    inspect = celery_app.control.inspect(destination=[node], timeout=timeout)
    queues = (inspect.active_queues() or {}).get(node)
    if queues is None:
        return None
    pool = ((inspect.stats() or {}).get(node) or {}).get("pool") or {}
    processes = pool.get("processes")
    active = (inspect.active() or {}).get(node) or []
    return WorkerReport(queues=[q.get("name", "") for q in queues],
                        processes=len(processes) if isinstance(processes, list) else 0,
                        active=len(active))


def oldest_waiting(queue: str) -> float | None:
    settings = get_settings()
    with redis.Redis.from_url(settings.celery_broker_url, socket_timeout=5) as client:
        (status,) = fleet.fleet_status(client, settings, [], queues=[queue])
    return status.oldest_age_seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node", help="the worker's node name, e.g. settlement@$HOSTNAME")
    parser.add_argument("--queue", required=True, help="the queue this worker must consume")
    parser.add_argument("--stall-seconds", type=float, default=60.0,
                        help="how long a message may wait while the worker idles")
    parser.add_argument("--timeout", type=float, default=5.0,
                        help="seconds to wait for the worker's replies")
    args = parser.parse_args(argv)
    try:
        report = report_of(args.node, args.timeout)
        problems = worker_problems(report, args.queue, oldest_waiting(args.queue),
                                   args.stall_seconds)
    except (OperationalError, redis.RedisError, OSError) as exc:
        problems = [f"the broker is unreachable: {type(exc).__name__}: {exc}"]
    if problems:
        sys.stderr.write(f"{args.node} unhealthy: {'; '.join(problems)}\n")
        return 1
    sys.stdout.write(f"{args.node} healthy: consumes {args.queue}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
