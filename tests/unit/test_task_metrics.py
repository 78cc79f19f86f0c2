"""The worker's task counts are buffered and sent with the next round trip, not one each."""

from __future__ import annotations

import os
from typing import Any

import pytest

from app.services.ops_metrics import TASK_COUNTS_KEY, task_field
from tasks import task_metrics


class Pipe:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def hincrby(self, key: str, field: str, n: int) -> None:
        self.calls.append(("hincrby", key, field, n))

    def delete(self, key: str) -> None:
        self.calls.append(("delete", key))


@pytest.fixture(autouse=True)
def no_flusher(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if this process's flusher were running: none starts, so only the test drains.
    monkeypatch.setattr(task_metrics, "_flusher_pid", os.getpid())


def test_counts_and_deferred_writes_ride_in_one_pipeline_once() -> None:
    task_metrics.drain_into(Pipe())  # whatever an earlier test left
    for _ in range(3):
        task_metrics.count("settlement.process_command", "received")
    task_metrics.count(None, "unknown")
    task_metrics.deferred(lambda pipe: pipe.delete("delivery:1"))
    pipe = Pipe()
    task_metrics.drain_into(pipe)
    assert sorted(pipe.calls, key=str) == sorted([
        ("hincrby", TASK_COUNTS_KEY, task_field("settlement.process_command", "received"), 3),
        ("hincrby", TASK_COUNTS_KEY, task_field(task_metrics.UNREGISTERED, "unknown"), 1),
        ("delete", "delivery:1")], key=str)
    again = Pipe()
    task_metrics.drain_into(again)
    assert again.calls == []


def test_a_forked_child_starts_with_an_empty_buffer_and_a_free_lock() -> None:
    task_metrics.count("maintenance.noop", "started")
    with task_metrics._lock:  # held, as the parent's flusher may hold it at the fork
        task_metrics._after_fork_in_child()
    assert task_metrics._lock.acquire(blocking=False)
    task_metrics._lock.release()
    pipe = Pipe()
    task_metrics.drain_into(pipe)
    assert pipe.calls == []
