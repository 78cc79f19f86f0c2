"""Every class of message the bridge cannot accept, published through the real emulator: each
is stored as a dead letter with its reason, announced on fusion.deadletter.v1, and acked (the
bridge goes on with the next message instead of retrying it forever)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.persistence.db import unit_of_work
from app.persistence.models import DeadLetter
from tests.e2e.bridge_fixtures import publish
from tests.messages import address, approved, encode
from tests.pubsub_fixtures import Observer
from tests.support import ManagedProcess, wait_for

pytestmark = pytest.mark.e2e
SETTLEMENT_EVENTS = "settlement.events.v1"
NUL = "\x00"


def cloudevent(data: dict[str, Any], **attributes: str | None) -> tuple[bytes, dict[str, str]]:
    raw, attrs = encode("Approved", data, "cloudevents")
    for name, value in attributes.items():
        key = name.replace("_", "-")
        if value is None:
            attrs.pop(key)
        else:
            attrs[key] = value
    return raw, attrs


# (data, attributes, reason)
CASES: dict[str, tuple[bytes, dict[str, str], str]] = {
    "nul in a field": (json.dumps(approved(address(), "0x" + NUL)).encode(),
                       {"event_type": "Approved"}, "invalid_payload"),
    "nul in an extra field": (*cloudevent({**approved(address(), "0x1"),
                                           "memo": {"lines": ["a" + NUL]}}), "invalid_payload"),
    "nul in an attribute": (*cloudevent(approved(address(), "0x1"), ce_source="src" + NUL),
                            "invalid_envelope"),
}


def dead_letter(message_id: str) -> DeadLetter | None:
    with unit_of_work() as session:
        return session.scalars(select(DeadLetter).where(
            DeadLetter.message_id == message_id,
            DeadLetter.subscription == "settlement-events")).one_or_none()


@pytest.fixture(scope="module")
def announcements(pubsub_topology: list[str]) -> Iterator[Observer]:
    observer = Observer("fusion.deadletter.v1")
    yield observer
    observer.close()


@pytest.mark.parametrize("case", list(CASES))
def test_each_malformed_message_is_dead_lettered_with_its_reason_and_announced(
        bridge: ManagedProcess, relay: ManagedProcess, announcements: Observer,
        case: str) -> None:
    data, attributes, reason = CASES[case]
    [message_id] = publish(SETTLEMENT_EVENTS, [(data, attributes)])
    letter = wait_for(lambda: dead_letter(message_id), what=f"dead letter for {case}")
    assert (letter.reason, letter.data) == (reason, data)
    assert letter.detail
    [announced] = announcements.wait_for(
        1, timeout=60, match=lambda m: isinstance(m.data, dict)
        and m.data.get("dead_letter_id") == letter.id)
    assert announced.attributes["ce-type"] == "message.dead_lettered"
    assert (announced.data["reason"], announced.data["message_id"]) == (reason, message_id)
    assert bridge.process is not None and bridge.process.poll() is None
