"""Group send: Pub/Sub callbacks hand routed messages to one sender thread, which records
everything waiting in the inbox (one PostgreSQL statement), enqueues it in one broker round
trip and then acks each message.

A message is acked only once its group is in the inbox and in the broker: the broker may still
lose a task (a Redis restart without persistence), and the inbox is what the sweeper re-sends
it from. When either step fails, every message of the group is nacked (after a pause that
grows with consecutive failures, so an outage slows the pull instead of spinning
redeliveries). Delivery stays at-least-once; the database and the broker see one round trip
each and the process one busy thread per group instead of one of each per message competing
for the GIL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from app.logs import get_logger
from app.messaging.routing import Routed
from bridges import metrics

log = get_logger(__name__)

SendGroup = Callable[[Sequence[Routed]], None]
# Makes the group durable (the inbox); raises if it may not all be stored.
RecordGroup = Callable[[Sequence[Routed]], None]
MAX_NACK_DELAY = 5.0


class Acknowledgeable(Protocol):
    """The part of a Pub/Sub message the sender settles."""

    message_id: str

    def ack(self) -> None: ...
    def nack(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Pending:
    routed: Routed
    message: Acknowledgeable
    subscription: str
    received_at: float  # time.monotonic() when the callback got it


class SenderClosed(RuntimeError):
    """The bridge is stopping: the caller nacks, and Pub/Sub redelivers elsewhere or later."""


class GroupSender:
    def __init__(self, send_group: SendGroup, *, record_group: RecordGroup,
                 max_group: int = 500, sleep: Callable[[float], None] = time.sleep) -> None:
        self._send_group, self._record_group = send_group, record_group
        self._max_group, self._sleep = max_group, sleep
        self._waiting: list[Pending] = []
        self._ready = threading.Condition()
        self._closed = False
        self.failures = 0  # consecutive failed groups
        self._thread = threading.Thread(target=self._run, name="bridge-group-send", daemon=True)
        self._thread.start()

    def submit(self, pending: Pending) -> None:
        with self._ready:
            if self._closed:
                raise SenderClosed("the bridge is stopping")
            self._waiting.append(pending)
            self._ready.notify()

    def close(self, timeout: float = 20.0) -> None:
        """Refuse new messages, send (and ack) what is waiting, then stop the thread."""
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._closed:
                    self._ready.wait()
                if not self._waiting:
                    return
                group = self._waiting[:self._max_group]
                del self._waiting[:self._max_group]
            try:
                self._send(group)
            except Exception as exc:  # never let one group end the thread: nothing would be acked
                log.error("bridge.group_send_failed", error=type(exc).__name__,
                          message_ids=[p.message.message_id for p in group[:20]])
                for p in group:
                    p.message.nack()

    @property
    def alive(self) -> bool:
        """For the liveness probe: a dead sender thread would leave every message unacked."""
        return self._thread.is_alive() or self._closed

    def _send(self, group: list[Pending]) -> None:
        routed = [p.routed for p in group]
        for cause, step in (("database", self._record_group), ("broker", self._send_group)):
            try:
                step(routed)
            except Exception as exc:  # store or broker down or refusing: Pub/Sub must redeliver
                self._refuse(group, cause, exc)
                return
        self.failures = 0
        now = time.monotonic()
        for p in group:
            p.message.ack()
            metrics.ENQUEUED.labels(p.subscription).inc()
            metrics.ENQUEUE_SECONDS.labels(p.subscription).observe(now - p.received_at)

    def _refuse(self, group: list[Pending], cause: str, exc: Exception) -> None:
        self.failures += 1
        log.warning("bridge.enqueue_failed", error=type(exc).__name__, cause=cause,
                    messages=len(group), message_ids=[p.message.message_id for p in group[:20]],
                    consecutive_failures=self.failures)
        self._sleep(min(MAX_NACK_DELAY, 0.1 * 2 ** min(self.failures, 6)))
        for p in group:
            metrics.NACKED.labels(p.subscription, cause).inc()
            p.message.nack()
