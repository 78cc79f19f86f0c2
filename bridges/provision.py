"""Create the topics and subscriptions of app.messaging.topology, idempotently.

Existing resources are left as they are (Pub/Sub cannot change a subscription's topic or
ordering after creation); a difference from the table is reported in the returned lines so an
operator sees it instead of it silently winning.
"""

from __future__ import annotations

from typing import Any

from google.api_core import exceptions
from google.protobuf import duration_pb2
from google.pubsub_v1.types import DeadLetterPolicy, RetryPolicy
from google.pubsub_v1.types import Subscription as PubsubSubscription

from app.config import Settings
from app.messaging.topology import DEAD_LETTER, SUBSCRIPTIONS, TOPICS, Subscription
from bridges.pubsub import publisher, subscriber, subscription_path, topic_path

# What a target that does not implement dead-letter policies answers when given one.
_POLICY_REJECTED = (exceptions.InvalidArgument, exceptions.MethodNotImplemented,
                    exceptions.FailedPrecondition)


def init_pubsub(settings: Settings, *, dead_letter: bool = True) -> list[str]:
    """Create every topic and subscription; one line per resource: created / exists (...).

    dead_letter=False skips the policies. Note: the emulator (0.8.x) accepts a policy, but once
    a message of an *ordered* subscription reaches max_delivery_attempts its pull handler fails
    (NullPointerException) and that subscription stays broken until the emulator restarts.
    """
    lines: list[str] = []
    with publisher(settings) as pub, subscriber(settings) as sub:
        for topic in TOPICS:
            try:
                pub.create_topic(name=topic_path(settings, topic))
                lines.append(f"topic {topic}: created")
            except exceptions.AlreadyExists:
                lines.append(f"topic {topic}: exists")
        for wanted in SUBSCRIPTIONS:
            lines.append(_ensure_subscription(settings, sub, wanted, dead_letter=dead_letter))
    return lines


def _request(settings: Settings, wanted: Subscription, *, dead_letter: bool) -> dict[str, Any]:
    request: dict[str, Any] = {
        "name": subscription_path(settings, wanted.name),
        "topic": topic_path(settings, wanted.topic),
        "ack_deadline_seconds": wanted.ack_deadline_seconds,
        "message_retention_duration": duration_pb2.Duration(
            seconds=wanted.message_retention_seconds),
        "enable_message_ordering": wanted.ordering,
        "retry_policy": RetryPolicy(
            minimum_backoff=duration_pb2.Duration(seconds=wanted.retry_min_backoff_seconds),
            maximum_backoff=duration_pb2.Duration(seconds=wanted.retry_max_backoff_seconds),
        ),
    }
    if dead_letter:
        request["dead_letter_policy"] = DeadLetterPolicy(
            dead_letter_topic=topic_path(settings, DEAD_LETTER),
            max_delivery_attempts=wanted.max_delivery_attempts,
        )
    return request


def _ensure_subscription(settings: Settings, sub: Any, wanted: Subscription, *,
                         dead_letter: bool) -> str:
    label = f"subscription {wanted.name} ({wanted.topic})"
    try:
        sub.create_subscription(request=_request(settings, wanted, dead_letter=dead_letter))
    except exceptions.AlreadyExists:
        existing = sub.get_subscription(subscription=subscription_path(settings, wanted.name))
        drift = differences(settings, existing, wanted, dead_letter=dead_letter)
        return f"{label}: exists" + (f" (differs: {'; '.join(drift)})" if drift else "")
    except _POLICY_REJECTED as exc:
        if not dead_letter:
            raise
        # A target without dead-letter support still gets the subscription; the bridge's own
        # dead-letter table remains the backstop for poison messages.
        try:
            sub.create_subscription(request=_request(settings, wanted, dead_letter=False))
        except exceptions.AlreadyExists:
            return f"{label}: exists"
        return f"{label}: created without dead-letter policy (rejected: {exc.message})"
    policy = " + dead-letter policy" if dead_letter else ""
    return f"{label}: created{policy}"


def differences(settings: Settings, existing: PubsubSubscription, wanted: Subscription, *,
                dead_letter: bool = True) -> list[str]:
    """How an existing subscription differs from the topology table (empty: it matches)."""
    found = {
        "topic": existing.topic,
        "ack_deadline_seconds": existing.ack_deadline_seconds,
        "message_retention_seconds": existing.message_retention_duration.total_seconds(),
        "ordering": existing.enable_message_ordering,
    }
    expected: dict[str, object] = {
        "topic": topic_path(settings, wanted.topic),
        "ack_deadline_seconds": wanted.ack_deadline_seconds,
        "message_retention_seconds": float(wanted.message_retention_seconds),
        "ordering": wanted.ordering,
    }
    policy = existing.dead_letter_policy
    if dead_letter and policy and policy.dead_letter_topic:
        found["dead_letter"] = (policy.dead_letter_topic, policy.max_delivery_attempts)
        expected["dead_letter"] = (topic_path(settings, DEAD_LETTER),
                                   wanted.max_delivery_attempts)
    return [f"{key} {found[key]!r} != {value!r}" for key, value in expected.items()
            if found[key] != value]
