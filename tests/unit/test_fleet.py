"""The fleet arithmetic: throughput, the recommended worker count, broker message parsing."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.fleet import Throughput, recommended_workers
from app.services.fleet import (
    Consumer,
    _buckets,
    consumers_from_inspect,
    priority_lists,
    sent_at,
)


def test_throughput_rates() -> None:
    t = Throughput(completed=120, busy_seconds=30.0, window_seconds=300.0)
    assert t.per_second == pytest.approx(0.4)
    assert t.per_worker_per_second == pytest.approx(4.0)


def test_nothing_finished_means_no_measurement() -> None:
    assert Throughput(0, 0.0, 300.0).per_worker_per_second is None
    assert Throughput(0, 0.0, 300.0).per_second == 0.0
    assert Throughput(5, 0.0, 0.0).per_second == 0.0


@pytest.mark.parametrize(("depth", "rate", "target", "minimum", "want"), [
    (0, 10.0, 60, 1, 1),       # empty: the autoscale minimum
    (0, None, 60, 0, 0),
    (600, 10.0, 60, 1, 1),     # one process drains 600 in 60 s at 10/s
    (601, 10.0, 60, 1, 2),     # one task more needs a second process
    (1000, 2.0, 60, 1, 9),     # ceil(1000 / 120)
    (10, 0.5, 20, 0, 1),       # exactly 1.0: float noise must not round up to 2
    (5, 100.0, 60, 3, 3),      # bounded below by the minimum
    (50, None, 60, 0, 1),      # backlog, no measured rate: one worker to start it moving
    (50, None, 60, 4, 4),
])
def test_recommended_workers(depth: int, rate: float | None, target: float, minimum: int,
                             want: int) -> None:
    assert recommended_workers(depth, rate, target, minimum) == want


@given(depth=st.integers(1, 10**7), rate=st.floats(0.01, 10_000), target=st.floats(1, 3600),
       minimum=st.integers(0, 20))
def test_recommendation_drains_in_time_and_is_minimal(depth: int, rate: float, target: float,
                                                      minimum: int) -> None:
    n = recommended_workers(depth, rate, target, minimum)
    assert n >= minimum
    assert n * rate * target >= depth * (1 - 1e-9)  # n workers drain it within the target
    if n > max(minimum, 1):  # and one fewer would not
        assert (n - 1) * rate * target < depth


def test_recommended_workers_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="target"):
        recommended_workers(1, 1.0, 0, 0)
    with pytest.raises(ValueError, match="depth"):
        recommended_workers(-1, 1.0, 60, 0)


def test_priority_lists_follow_kombu_naming() -> None:
    lists = priority_lists("risk")
    assert lists[0] == "risk" and len(lists) == 10
    assert {"risk\x06\x163", "risk\x06\x166", "risk\x06\x169"} <= set(lists)


def test_sent_at_reads_the_publish_header() -> None:
    message = json.dumps({"body": "e30=", "headers": {"id": "t", "fusion_sent_at": 1700000000.5}})
    assert sent_at(message.encode()) == 1700000000.5
    assert sent_at(json.dumps({"headers": {"id": "t"}})) is None  # sent before the stamp
    assert sent_at(b"not json") is None
    assert sent_at(None) is None
    assert sent_at(json.dumps({"headers": {"fusion_sent_at": "yesterday"}})) is None


def test_buckets_cover_the_window_and_the_partial_minute() -> None:
    buckets, span = _buckets(now=600.0 + 30.0, window_seconds=300)
    assert buckets == [6, 7, 8, 9, 10]
    assert span == pytest.approx(270.0)  # four whole minutes and the half of the current one
    assert math.isclose(_buckets(now=60.0, window_seconds=60)[1], 0.0)


def test_consumers_from_inspect_replies() -> None:
    active = {"risk@h": [{"name": "risk"}], "ops@h": [{"name": "alerts"}, {"name": "batch"}],
              "gone@h": None}
    stats = {"risk@h": {"pool": {"max-concurrency": 4, "processes": [11, 12]}},
             "ops@h": {"pool": {"max-concurrency": 1, "processes": [13]}}}
    assert consumers_from_inspect(active, stats) == [
        Consumer("gone@h", (), 0, 0),
        Consumer("ops@h", ("alerts", "batch"), 1, 1),
        Consumer("risk@h", ("risk",), 2, 4),
    ]
    assert consumers_from_inspect(None, None) == []
