"""Pub/Sub emulator fixtures: a real emulator, a fresh project per run, observer subscriptions."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.support import ROOT

EMULATOR_TIMEOUT = 60


def _emulator_dir() -> Path:
    parent = os.environ.get("FUSION_TEST_DATA")
    return Path(parent) / "pubsub" if parent else ROOT / ".fusion" / "test-pubsub"


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[dict[str, str]]:
    """PUBSUB_EMULATOR_HOST (given, or a private emulator) and a project id unique to this run;
    yields the env for child processes and leaves it in os.environ for this one."""
    import pubsub_emulator as emulator  # noqa: PLC0415 - scripts/ is on sys.path via support

    from app.config import get_settings  # noqa: PLC0415

    data_dir = _emulator_dir()
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    started = False
    if not host:
        started = emulator.status(data_dir) is None
        host = emulator.ensure_emulator(data_dir)
    env = {"PUBSUB_EMULATOR_HOST": host, "PUBSUB_PROJECT_ID": f"fusion-test-{uuid.uuid4().hex[:8]}"}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    if started:
        emulator.stop_emulator(data_dir)


@pytest.fixture(scope="session")
def pubsub_topology(pubsub_emulator: dict[str, str], service_env: dict[str, str]) -> list[str]:
    """Every topic and subscription of the topology, created once; the init report lines."""
    from app.config import get_settings  # noqa: PLC0415
    from bridges.provision import init_pubsub  # noqa: PLC0415

    return init_pubsub(get_settings())


class Received(NamedTuple):
    data: Any  # the JSON-decoded body (raw bytes if it is not JSON)
    attributes: dict[str, str]
    ordering_key: str
    message_id: str
    received_at: float  # time.time() when the pull returned it


def decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data


class Observer:
    """A temporary ordered subscription on a topic, pulled (and acked) by a background thread,
    so messages are recorded in delivery order with their receipt time."""

    def __init__(self, topic: str, settings: Any = None) -> None:
        from app.config import get_settings  # noqa: PLC0415
        from bridges.pubsub import subscriber, subscription_path, topic_path  # noqa: PLC0415

        settings = settings or get_settings()
        self.client = subscriber(settings)
        self.path = subscription_path(settings, f"observe-{uuid.uuid4().hex[:10]}")
        self.client.create_subscription(request={
            "name": self.path, "topic": topic_path(settings, topic),
            "enable_message_ordering": True, "ack_deadline_seconds": 60})
        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._pull_loop, name="observer", daemon=True)
        self._thread.start()

    def _pull_loop(self) -> None:
        from google.api_core import exceptions  # noqa: PLC0415

        while not self._stop.is_set():
            try:
                # The emulator holds an empty pull until ~1 s before the deadline: a long poll.
                response = self.client.pull(
                    request={"subscription": self.path, "max_messages": 1000},
                    timeout=1.5, retry=None)
            except (exceptions.DeadlineExceeded, exceptions.ServiceUnavailable):
                continue
            except Exception as exc:
                self._error = exc
                return
            now = time.time()
            batch = [Received(decode(m.message.data), dict(m.message.attributes),
                              m.message.ordering_key, m.message.message_id, now)
                     for m in response.received_messages]
            if response.received_messages:
                self.client.acknowledge(subscription=self.path,
                                        ack_ids=[m.ack_id for m in response.received_messages])
            with self._lock:
                self.messages.extend(batch)

    def snapshot(self) -> list[Received]:
        if self._error is not None:
            raise AssertionError(f"observer pull failed: {self._error!r}")
        with self._lock:
            return list(self.messages)

    def wait_for(self, count: int, *, timeout: float = 30.0,
                 match: Any = None) -> list[Received]:
        """Messages received so far once at least `count` match (`match(msg) -> bool`)."""
        deadline = time.monotonic() + timeout
        while True:
            got = [m for m in self.snapshot() if match is None or match(m)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(got)} of {count} messages within {timeout}s "
                                     f"on {self.path}")
            time.sleep(0.05)

    def wait_for_events(self, ids: Iterable[str], *, timeout: float = 30.0) -> list[Received]:
        """Once every ce-id in ids arrived: all deliveries of them (duplicates too), in order."""
        wanted = set(ids)
        deadline = time.monotonic() + timeout
        while True:
            got = [m for m in self.snapshot() if m.attributes.get("ce-id") in wanted]
            missing = len(wanted) - len({m.attributes["ce-id"] for m in got})
            if not missing:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{missing} of {len(wanted)} events not received within "
                                     f"{timeout}s on {self.path}")
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        try:
            self.client.delete_subscription(subscription=self.path)
        finally:
            self.client.close()


@pytest.fixture
def observe(pubsub_topology: list[str]) -> Iterator[Any]:
    """observe(topic) -> Observer; every observer is deleted at the end of the test."""
    observers: list[Observer] = []

    def _observe(topic: str) -> Observer:
        observers.append(Observer(topic))
        return observers[-1]

    yield _observe
    for observer in observers:
        observer.close()


def pull(subscription: str, *, count: int, timeout: float = 20.0,
         match: Any = None, settings: Any = None) -> list[Received]:
    """Pull from an existing subscription until `count` messages matching `match` arrived;
    acks those, and nacks anything else (someone else's) so it is redelivered to them."""
    from google.api_core import exceptions  # noqa: PLC0415

    from app.config import get_settings  # noqa: PLC0415
    from bridges.pubsub import subscriber, subscription_path  # noqa: PLC0415

    settings = settings or get_settings()
    path = subscription_path(settings, subscription)
    found: list[Received] = []
    deadline = time.monotonic() + timeout
    with subscriber(settings) as client:
        while len(found) < count and time.monotonic() < deadline:
            try:
                response = client.pull(request={"subscription": path, "max_messages": 100},
                                       timeout=2.0, retry=None)
            except exceptions.DeadlineExceeded:
                continue
            mine, others = [], []
            for m in response.received_messages:
                msg = Received(decode(m.message.data), dict(m.message.attributes),
                               m.message.ordering_key, m.message.message_id, time.time())
                if match is None or match(msg):
                    found.append(msg)
                    mine.append(m.ack_id)
                else:
                    others.append(m.ack_id)
            if mine:
                client.acknowledge(subscription=path, ack_ids=mine)
            if others:
                client.modify_ack_deadline(subscription=path, ack_ids=others,
                                           ack_deadline_seconds=0)
    if len(found) < count:
        raise AssertionError(f"{len(found)} of {count} messages on {subscription} "
                             f"within {timeout}s")
    return found
