"""`fusion-prime fleet status`: per queue depth, consumers, oldest age, throughput, advice."""

from __future__ import annotations

import json

import click

from app.config import WORKER_QUEUES, get_settings
from app.services import fleet


@click.group("fleet")
def fleet_group() -> None:
    """The worker fleet: one worker group per queue."""


@fleet_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--queue", "extra", multiple=True,
              help="Also report this queue (repeatable); the configured queues always show.")
@click.option("--window", default=fleet.DEFAULT_WINDOW_SECONDS, show_default=True,
              type=click.IntRange(60, 3600), help="Seconds of history for throughput.")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30),
              help="Seconds to wait for the workers' replies.")
def status(as_json: bool, extra: tuple[str, ...], window: int, timeout: float) -> None:
    """Depth, consumers, oldest message age, throughput and a recommended worker count for
    FLEET_TARGET_DRAIN_SECONDS, per queue."""
    from redis import Redis  # noqa: PLC0415

    from tasks.celery_app import celery_app  # noqa: PLC0415 - the Celery app is a heavy import

    settings = get_settings()
    # An unreachable broker is the group's one-line error (cli/main.py), naming the URL.
    inspect = celery_app.control.inspect(timeout=timeout)
    consumers = fleet.consumers_from_inspect(inspect.active_queues(), inspect.stats())
    with Redis.from_url(settings.celery_broker_url, socket_timeout=5) as client:
        rows = fleet.fleet_status(client, settings, consumers,
                                  queues=[*WORKER_QUEUES, *extra], window_seconds=window)
    if as_json:
        click.echo(json.dumps({"target_drain_seconds": settings.fleet_target_drain_seconds,
                               "workers": [c.node for c in consumers],
                               "queues": [fleet.as_dict(r) for r in rows]}, indent=2))
        return
    click.echo(f"{'queue':<14}{'depth':>8}{'consumers':>11}{'procs':>7}{'oldest':>10}"
               f"{'done/s':>9}{'per proc/s':>12}{'bounds':>8}{'advice':>8}")
    for r in rows:
        bounds = f"{r.autoscale_min}-{r.autoscale_max or ''}"
        per = f"{r.per_worker_per_second:.1f}" if r.per_worker_per_second else "-"
        click.echo(f"{r.queue:<14}{r.depth:>8}{r.consumers:>11}{r.processes:>7}"
                   f"{_age(r.oldest_age_seconds):>10}{r.throughput_per_second:>9.2f}{per:>12}"
                   f"{bounds:>8}{r.recommended_workers:>8}")
    click.echo(f"\nadvice: worker processes to drain each queue within "
               f"{settings.fleet_target_drain_seconds:g}s at the rate one process finished "
               f"tasks over the last {window}s (at least the autoscale minimum)")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.1f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"
