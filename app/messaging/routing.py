"""Decide what a message on a subscription becomes: which task, on which queue, with which id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.messaging.inbound import Undecodable, decode
from app.messaging.topology import BY_NAME


@dataclass(frozen=True, slots=True)
class Routed:
    task_name: str
    queue: str
    task_id: str
    event: dict[str, Any]

    @property
    def subscription(self) -> str:
        return str(self.event["subscription"])

    @property
    def dedup_key(self) -> str:
        return str(self.event["dedup_key"])


def task_id_of(subscription: str, dedup_key: str) -> str:
    """The same event on another subscription (settlement-events and risk-events share a
    topic) is another task."""
    return f"{subscription}/{dedup_key}"


def route(subscription: str, raw: bytes, attributes: Mapping[str, str],
          message_id: str) -> Routed:
    """Decode and route, or raise Undecodable with the reason for the dead-letter store.

    The event carries its subscription, so its consumer can mark its inbox row processed.
    """
    config = BY_NAME.get(subscription)
    if config is None:
        raise Undecodable("unknown_subscription", f"no route table for {subscription!r}")
    event = decode(raw, attributes, message_id)
    task_name = config.routes.get(event.event_type)
    if task_name is None:
        raise Undecodable("unknown_event_type",
                          f"{event.event_type!r} is not routed on {subscription}")
    return Routed(task_name, config.queue, task_id_of(subscription, event.dedup_key),
                  {**event.model_dump(mode="json"), "subscription": subscription})


def route_again(task_name: str, event: dict[str, Any]) -> Routed:
    """The task of an event routed before (kept in the inbox), to send it once more."""
    subscription = str(event["subscription"])
    return Routed(task_name, BY_NAME[subscription].queue,
                  task_id_of(subscription, str(event["dedup_key"])), event)
