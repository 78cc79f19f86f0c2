"""Fleet arithmetic: how fast a queue drains and how many workers drain it in time.

A *worker* here is one pool process (what `--autoscale max,min` and `-c` count), because that
is the unit that runs one task at a time and the unit the autoscale bounds are written in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Throughput:
    """Tasks a queue's workers finished over a recent window, and the time they spent running.

    `per_second` is what the fleet achieved (idle time included); `per_worker_per_second` is
    what one process achieves while busy (completed / busy seconds), so it does not depend on
    how many workers happened to be running or how idle they were. It counts time inside the
    task only, not the broker and result round trips around it, so for very short tasks it is
    optimistic and the recommendation a lower bound.
    """

    completed: int
    busy_seconds: float
    window_seconds: float

    @property
    def per_second(self) -> float:
        return self.completed / self.window_seconds if self.window_seconds > 0 else 0.0

    @property
    def per_worker_per_second(self) -> float | None:
        if self.completed <= 0 or self.busy_seconds <= 0:
            return None  # nothing finished lately: no measurement, not "infinitely fast"
        return self.completed / self.busy_seconds


def recommended_workers(depth: int, per_worker_per_second: float | None,
                        target_drain_seconds: float, minimum: int) -> int:
    """Workers needed to drain `depth` waiting tasks within `target_drain_seconds`.

        recommended = max(minimum, ceil(depth / (per_worker_per_second * target_drain_seconds)))

    An empty queue needs only `minimum` (the group's autoscale minimum). A backlog whose rate
    was never measured (nothing on the queue finished in the window) gets max(minimum, 1): one
    worker starts it moving and measures the rate the next estimate uses; guessing more would
    be a guess. The result is not capped at the autoscale maximum, so a recommendation above it
    tells the operator the bound itself is too low for the target.
    """
    if depth < 0 or target_drain_seconds <= 0 or minimum < 0:
        raise ValueError("depth and minimum must be >= 0 and the target drain time > 0")
    if depth == 0:
        return minimum
    if per_worker_per_second is None or per_worker_per_second <= 0:
        return max(minimum, 1)
    # The epsilon keeps float noise (e.g. 10 / (0.5 * 20) = 1.0000000000000002) from adding
    # a whole worker.
    needed = math.ceil(depth / (per_worker_per_second * target_drain_seconds) - 1e-9)
    return max(minimum, needed)
