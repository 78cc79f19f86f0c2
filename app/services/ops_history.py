"""Queue depth and outbox lag over time, for the console's overview: beat samples them once a
minute into a capped list in the broker's Redis (a day of samples; losing them loses only the
picture, the same figures are on /metrics for Prometheus to keep)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

SAMPLES_KEY = "fusion:console:ops-samples"
MAX_SAMPLES = 24 * 60  # one a minute for a day


class SampleStore(Protocol):
    def pipeline(self, transaction: bool = ...) -> Any: ...

    def lrange(self, name: str, start: int, end: int) -> Any: ...


@dataclass(frozen=True)
class Sample:
    at: datetime
    queue_depth: dict[str, int]
    outbox_unsent: int
    outbox_lag_seconds: float


def record(client: SampleStore, sample: Sample) -> None:
    body = json.dumps({"at": sample.at.timestamp(), "queue_depth": sample.queue_depth,
                       "outbox_unsent": sample.outbox_unsent,
                       "outbox_lag_seconds": round(sample.outbox_lag_seconds, 3)})
    pipe = client.pipeline(transaction=False)
    pipe.lpush(SAMPLES_KEY, body)
    pipe.ltrim(SAMPLES_KEY, 0, MAX_SAMPLES - 1)
    pipe.execute()


def _parsed(raw: bytes | str) -> Sample | None:
    try:
        body: Mapping[str, Any] = json.loads(raw)
        return Sample(datetime.fromtimestamp(float(body["at"]), tz=UTC),
                      {str(k): int(v) for k, v in body["queue_depth"].items()},
                      int(body["outbox_unsent"]), float(body["outbox_lag_seconds"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a sample of another version: skipped, not an error page


def since(client: SampleStore, start: datetime) -> list[Sample]:
    """Samples from `start` on, oldest first."""
    samples = [s for s in map(_parsed, client.lrange(SAMPLES_KEY, 0, MAX_SAMPLES - 1))
               if s is not None and s.at >= start]
    samples.sort(key=lambda s: s.at)
    return samples
