"""The bridge and the outbox relay as real processes against the emulator, Redis and Postgres."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ManagedProcess, devstack


def start_bridge(env: dict[str, str], log: Path) -> ManagedProcess:
    return ManagedProcess([sys.executable, "-m", "bridges"], env, log,
                          ready_marker=b"bridge.started", name="bridge").start()


def start_relay(env: dict[str, str], log: Path) -> ManagedProcess:
    return ManagedProcess([sys.executable, "-m", "bridges", "outbox"], env, log,
                          ready_marker=b"outbox_relay.started", name="outbox relay").start()


@pytest.fixture(scope="module")
def bridge_env(service_env: dict[str, str], pubsub_emulator: dict[str, str],
               pubsub_topology: list[str]) -> dict[str, str]:
    return {**service_env, **pubsub_emulator, "BRIDGE_METRICS_PORT": str(devstack.free_port())}


@pytest.fixture(scope="module")
def bridge(bridge_env: dict[str, str], worker: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    process = start_bridge(bridge_env, tmp_path_factory.mktemp("bridge") / "bridge.log")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def relay(bridge_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    env = {**bridge_env, "OUTBOX_METRICS_PORT": str(devstack.free_port())}
    process = start_relay(env, tmp_path_factory.mktemp("relay") / "relay.log")
    process.env = env
    yield process
    process.stop()


def publish(topic: str, messages: list[tuple[bytes, dict[str, str]]],
            ordering_key: str = "", project: str | None = None) -> list[str]:
    """Publish and wait for every message id (the emulator confirmed each)."""
    from app.config import get_settings  # noqa: PLC0415
    from bridges.pubsub import publisher, topic_path  # noqa: PLC0415

    settings = get_settings()
    if project is not None:
        settings = settings.model_copy(update={"pubsub_project_id": project})
    client = publisher(settings)
    path = topic_path(settings, topic)
    futures = [client.publish(path, data, ordering_key=ordering_key, **attributes)
               for data, attributes in messages]
    return [f.result(timeout=60) for f in futures]


def fresh_project(prefix: str) -> str:
    """A Pub/Sub project of its own, provisioned like the main one: a test that kills or
    restarts bridges does not inherit leases or streams of the bridges of other tests."""
    import uuid  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415
    from bridges.provision import init_pubsub  # noqa: PLC0415

    project = f"{prefix}-{uuid.uuid4().hex[:8]}"
    init_pubsub(get_settings().model_copy(update={"pubsub_project_id": project}))
    return project


def metric(port: str, name: str, **labels: str) -> float:
    """Sum of a Prometheus counter's samples whose labels include `labels`."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "_total"):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def health(port: str) -> dict[str, Any]:
    raw = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    return dict(json.loads(raw))
