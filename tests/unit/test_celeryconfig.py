"""celeryconfig.py leaves the transport to kombu: its stock one for every broker URL (a project
subclass crashed workers on a Redis restart and hid the broker from Flower's Broker tab)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _transport(broker_url: str) -> str:
    code = "import celeryconfig; print(getattr(celeryconfig, 'broker_transport', None))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True,
                          env={**os.environ, "CELERY_BROKER_URL": broker_url})
    return done.stdout.strip()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.internal:6380/0",
                                 "amqp://guest@127.0.0.1:5672//", "sentinel://127.0.0.1:26379"])
def test_every_broker_url_uses_kombus_own_transport(url: str) -> None:
    assert _transport(url) == "None"


def test_the_app_connects_with_a_scheme_flower_knows() -> None:
    """Flower picks its queue-depth reader from the connection URI's scheme."""
    code = ("from tasks.celery_app import celery_app\n"
            "with celery_app.connection() as c: print(c.as_uri().split(':', 1)[0])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True,
                          env={**os.environ, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})
    assert done.stdout.strip() == "redis"


def test_expired_unacked_messages_are_looked_for_on_every_restore_tick() -> None:
    """kombu 5.7 scans only every 10th tick (about 100 s): a killed worker's tasks would wait
    that long past their visibility timeout."""
    from kombu.transport.redis import Channel  # noqa: PLC0415

    import celeryconfig  # noqa: PLC0415

    options = celeryconfig.broker_transport_options
    assert options["unacked_restore_throttle"] == 1
    interval = options.get("unacked_restore_interval", Channel.unacked_restore_interval)
    assert interval * options["unacked_restore_throttle"] <= 10
