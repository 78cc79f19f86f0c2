"""The inbound relay: Pub/Sub subscriptions → Celery queues, acking only what is durable.

A message is acked after the broker accepted its task, or after it was stored as a dead letter
with its reason. Anything else (broker or database down) is nacked, so Pub/Sub redelivers it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from app.logs import bind, clear, get_logger
from app.messaging.inbound import Undecodable
from app.messaging.routing import Routed, route
from app.persistence.db import unit_of_work
from app.services import dead_letters
from bridges import metrics

log = get_logger(__name__)


class Message(Protocol):
    """The parts of google.cloud.pubsub_v1.subscriber.message.Message we use."""

    data: bytes
    attributes: Any
    message_id: str

    def ack(self) -> None: ...
    def nack(self) -> None: ...


Sender = Callable[[Routed], None]
MAX_NACK_DELAY = 5.0


def celery_sender() -> Sender:
    """Send through Celery; returns once Redis accepted the message, raises if it did not."""
    from tasks.celery_app import send_routed  # noqa: PLC0415 - only the bridge process needs it

    def send(routed: Routed) -> None:
        send_routed(routed)

    return send


class InboundHandler:
    """The per-message callback for one subscription."""

    def __init__(self, subscription: str, send: Sender) -> None:
        self.subscription, self.send = subscription, send
        self.failures = 0  # consecutive broker failures, shared by the callback threads
        self._lock = threading.Lock()

    def __call__(self, message: Message) -> None:
        started = time.monotonic()
        bind(message_id=message.message_id, subscription=self.subscription)
        metrics.RECEIVED.labels(self.subscription).inc()
        try:
            self._handle(message, started)
        finally:
            clear("message_id", "subscription")

    def _handle(self, message: Message, started: float) -> None:
        attributes = dict(message.attributes)
        try:
            routed = route(self.subscription, message.data, attributes, message.message_id)
        except Undecodable as refusal:
            self._dead_letter(message, attributes, refusal)
            return
        try:
            self.send(routed)
        except Exception as exc:  # broker down or refusing: Pub/Sub must redeliver
            with self._lock:
                self.failures += 1
                failures = self.failures
            log.warning("bridge.enqueue_failed", error=type(exc).__name__, task=routed.task_name,
                        consecutive_failures=failures)
            metrics.NACKED.labels(self.subscription, "broker").inc()
            # Hold the callback thread before the nack: with flow control bounding what is
            # outstanding, an outage slows the pull down instead of spinning redeliveries.
            time.sleep(min(MAX_NACK_DELAY, 0.1 * 2 ** min(failures, 6)))
            message.nack()
            return
        with self._lock:
            self.failures = 0
        message.ack()
        metrics.ENQUEUED.labels(self.subscription).inc()
        metrics.ENQUEUE_SECONDS.labels(self.subscription).observe(time.monotonic() - started)

    def _dead_letter(self, message: Message, attributes: dict[str, str],
                     refusal: Undecodable) -> None:
        try:
            with unit_of_work() as session:
                letter = dead_letters.store(
                    session, subscription=self.subscription, message_id=message.message_id,
                    data=message.data, attributes=attributes, reason=refusal.reason,
                    detail=refusal.detail)
        except Exception as exc:  # the store is down: keep the message in Pub/Sub instead
            log.error("bridge.dead_letter_failed", error=type(exc).__name__)
            metrics.NACKED.labels(self.subscription, "database").inc()
            message.nack()
            return
        log.warning("bridge.dead_lettered", reason=refusal.reason, dead_letter_id=letter.id)
        metrics.DEAD_LETTERED.labels(self.subscription, refusal.reason).inc()
        message.ack()
