"""Group send: Pub/Sub callbacks hand routed messages to one sender thread, which enqueues
everything waiting in one broker round trip and then acks each message.

A message is acked only once its group is in the broker; when the group's send fails, every
message in it is nacked (after a pause that grows with consecutive failures, so an outage
slows the pull instead of spinning redeliveries). Delivery stays at-least-once; the broker
sees one round trip and the process one busy thread per group instead of one of each per
message competing for the GIL.
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
    def __init__(self, send_group: SendGroup, *, max_group: int = 500,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._send_group, self._max_group, self._sleep = send_group, max_group, sleep
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
        try:
            self._send_group([p.routed for p in group])
        except Exception as exc:  # broker down or refusing: Pub/Sub must redeliver
            self.failures += 1
            log.warning("bridge.enqueue_failed", error=type(exc).__name__, messages=len(group),
                        message_ids=[p.message.message_id for p in group[:20]],
                        consecutive_failures=self.failures)
            self._sleep(min(MAX_NACK_DELAY, 0.1 * 2 ** min(self.failures, 6)))
            for p in group:
                metrics.NACKED.labels(p.subscription, "broker").inc()
                p.message.nack()
            return
        self.failures = 0
        now = time.monotonic()
        for p in group:
            p.message.ack()
            metrics.ENQUEUED.labels(p.subscription).inc()
            metrics.ENQUEUE_SECONDS.labels(p.subscription).observe(now - p.received_at)
