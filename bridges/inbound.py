"""The inbound relay: Pub/Sub subscriptions → Celery queues, acking only what is durable.

A message is acked after it is in the inbox and the broker accepted its task
(bridges/group_send.py), or after it was stored as a dead letter with its reason. Anything else
(broker or database down, the bridge stopping) is nacked, so Pub/Sub redelivers it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from app.logs import bind, clear, get_logger
from app.messaging.inbound import Undecodable
from app.messaging.routing import Routed, route
from app.persistence.db import unit_of_work
from app.services import dead_letters, inbox
from bridges import metrics
from bridges.group_send import GroupSender, Pending, RecordGroup, SenderClosed, SendGroup

log = get_logger(__name__)


class Message(Protocol):
    """The parts of google.cloud.pubsub_v1.subscriber.message.Message we use."""

    data: bytes
    attributes: Any
    message_id: str

    def ack(self) -> None: ...
    def nack(self) -> None: ...


def celery_group_sender() -> SendGroup:
    """Send a group through Celery in one Redis round trip; raises if it may not all be in."""
    from tasks.celery_app import send_routed_batch  # noqa: PLC0415 - bridge process only

    return send_routed_batch


def inbox_recorder(resend_after: timedelta) -> RecordGroup:
    """Record a group in the inbox in one transaction; raises if PostgreSQL did not take it."""

    def record(group: Sequence[Routed]) -> None:
        with unit_of_work() as session:
            inbox.record_received(session, group, datetime.now(UTC), resend_after)

    return record


class InboundHandler:
    """The per-message callback for one subscription: route it, then hand it to the group
    sender, which acks it once it is in the inbox and the broker; an undecodable one is
    dead-lettered."""

    def __init__(self, subscription: str, sender: GroupSender) -> None:
        self.subscription, self.sender = subscription, sender

    def __call__(self, message: Message) -> None:
        received_at = time.monotonic()
        bind(message_id=message.message_id, subscription=self.subscription)
        metrics.RECEIVED.labels(self.subscription).inc()
        try:
            self._handle(message, received_at)
        finally:
            clear("message_id", "subscription")

    def _handle(self, message: Message, received_at: float) -> None:
        attributes = dict(message.attributes)
        try:
            routed = route(self.subscription, message.data, attributes, message.message_id)
        except Undecodable as refusal:
            self._dead_letter(message, attributes, refusal)
            return
        try:
            self.sender.submit(Pending(routed, message, self.subscription, received_at))
        except SenderClosed:
            metrics.NACKED.labels(self.subscription, "stopping").inc()
            message.nack()

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
