"""Every class of message the bridge cannot accept, published through the real emulator: each
is stored as a dead letter with its reason, announced on fusion.deadletter.v1, and acked (the
bridge goes on with the next message instead of retrying it forever)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.messaging.errors import MESSAGE_REASONS
from app.persistence.db import unit_of_work
from app.persistence.models import DeadLetter
from tests.e2e.bridge_fixtures import fresh_project, publish, start_bridge, start_relay
from tests.messages import address, approved, encode
from tests.pubsub_fixtures import Observer
from tests.support import ManagedProcess, devstack, wait_for

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


def structured(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(event).encode(), {"content-type": "application/cloudevents+json"}


APPROVED = approved(address(), "0x1")
PRICE = {"asset_symbol": "ETH", "price_usd": "3000.10", "timestamp": "2026-11-28T00:00:00Z"}
# (data, attributes, reason); each published on settlement.events.v1
CASES: dict[str, tuple[bytes, dict[str, str], str]] = {
    "oversize": (json.dumps({"pad": "x" * 300_000}).encode(), {"event_type": "Approved"},
                 "oversize"),
    "malformed json": (b"{oops", {"event_type": "Approved"}, "malformed_json"),
    "not an object": (b"[1, 2]", {"event_type": "Approved"}, "not_an_object"),
    "no event type": (json.dumps(APPROVED).encode(), {}, "no_event_type"),
    "cloudevents 0.3": (*cloudevent(APPROVED, ce_specversion="0.3"), "unsupported_specversion"),
    "no ce-id": (*cloudevent(APPROVED, ce_id=None), "invalid_envelope"),
    "empty ce-source": (*cloudevent(APPROVED, ce_source=""), "invalid_envelope"),
    "ce-time without offset": (*cloudevent(APPROVED, ce_time="2026-11-28T00:00:00"),
                               "invalid_envelope"),
    "structured without a source": (*structured({
        "specversion": "1.0", "id": "s-1", "type": "Approved", "data": APPROVED}),
        "invalid_envelope"),
    "unknown event type": (b"{}", {"event_type": "EscrowTeleported"}, "unknown_event_type"),
    "not routed here": (json.dumps(PRICE).encode(), {"event_type": "PriceUpdated"},
                        "unknown_event_type"),
    "wrong types": (json.dumps({"contract_address": 7, "approver": []}).encode(),
                    {"event_type": "Approved"}, "invalid_payload"),
    "nul in a field": (json.dumps(approved(address(), "0x" + NUL)).encode(),
                       {"event_type": "Approved"}, "invalid_payload"),
    "nul in an extra field": (*cloudevent({**APPROVED, "memo": {"lines": ["a" + NUL]}}),
                              "invalid_payload"),
    "nul in an attribute": (*cloudevent(APPROVED, ce_source="src" + NUL), "invalid_envelope"),
}
# unknown_subscription has a test of its own below: no subscription of the bridge lacks a route.
UNKNOWN_SUBSCRIPTION = "unknown_subscription"


def probed(attributes: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A unique attribute to find the letter by (message ids are the emulator's, and another
    test may dead-letter the same body)."""
    probe = uuid.uuid4().hex
    return probe, {**attributes, "probe": probe}


def dead_letter(probe: str, subscription: str = "settlement-events") -> DeadLetter | None:
    with unit_of_work() as session:
        return session.scalars(select(DeadLetter).where(
            DeadLetter.attributes["probe"].astext == probe,
            DeadLetter.subscription == subscription)).one_or_none()


def assert_announced(announcements: Observer, letter: DeadLetter, message_id: str) -> None:
    [announced] = announcements.wait_for(
        1, timeout=60, match=lambda m: isinstance(m.data, dict)
        and m.data.get("dead_letter_id") == letter.id)
    assert announced.attributes["ce-type"] == "message.dead_lettered"
    assert (announced.data["reason"], announced.data["message_id"]) == (letter.reason,
                                                                         message_id)


def test_every_reason_of_the_bridge_is_exercised() -> None:
    assert {reason for _, _, reason in CASES.values()} | {UNKNOWN_SUBSCRIPTION} == set(
        MESSAGE_REASONS)


@pytest.fixture(scope="module")
def project(bridge_env: dict[str, str]) -> str:
    """A Pub/Sub project of this module's own: streams other modules' bridges closed moments
    ago can hold (and time out) messages of the shared one in the emulator."""
    return fresh_project("fusion-dl")


@pytest.fixture(scope="module")
def isolated(bridge_env: dict[str, str], project: str, worker: Any,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """This module's bridge and outbox relay, on its own project."""
    env = {**bridge_env, "PUBSUB_PROJECT_ID": project,
           "BRIDGE_METRICS_PORT": str(devstack.free_port()),
           "OUTBOX_METRICS_PORT": str(devstack.free_port())}
    logs = tmp_path_factory.mktemp("dead-letter-reasons")
    bridge = start_bridge(env, logs / "bridge.log")
    try:
        relay = start_relay(env, logs / "relay.log")
    except BaseException:
        bridge.stop()
        raise
    yield bridge
    relay.stop()
    bridge.stop()


@pytest.fixture(scope="module")
def announcements(project: str) -> Iterator[Observer]:
    observer = Observer("fusion.deadletter.v1", project=project)
    yield observer
    observer.close()


@pytest.mark.parametrize("case", list(CASES))
def test_each_malformed_message_is_dead_lettered_with_its_reason_and_announced(
        isolated: ManagedProcess, project: str, announcements: Observer, case: str) -> None:
    data, attributes, reason = CASES[case]
    probe, attributes = probed(attributes)
    [message_id] = publish(SETTLEMENT_EVENTS, [(data, attributes)], project=project)
    letter = wait_for(lambda: dead_letter(probe), what=f"dead letter for {case}")
    assert letter.message_id == message_id
    assert (letter.reason, letter.data) == (reason, data)
    assert letter.detail
    assert_announced(announcements, letter, message_id)
    assert isolated.process is not None and isolated.process.poll() is None


def test_a_message_on_a_subscription_without_a_route_table_is_dead_lettered(
        isolated: ManagedProcess, project: str, announcements: Observer) -> None:
    """A subscription someone attached to our topic that the route table does not know (a
    bridge whose topology is older than the project's): the bridge's own callback, pulling it
    from the emulator, dead-letters what arrives there."""
    from app.config import get_settings  # noqa: PLC0415
    from bridges.group_send import GroupSender  # noqa: PLC0415
    from bridges.inbound import InboundHandler, celery_group_sender, inbox_recorder  # noqa: PLC0415
    from bridges.pubsub import subscriber, subscription_path, topic_path  # noqa: PLC0415

    settings = get_settings().model_copy(update={"pubsub_project_id": project})
    name = f"unrouted-{uuid.uuid4().hex[:8]}"
    client = subscriber(settings)
    path = subscription_path(settings, name)
    client.create_subscription(request={"name": path,
                                        "topic": topic_path(settings, SETTLEMENT_EVENTS)})
    sender = GroupSender(celery_group_sender(), record_group=inbox_recorder(timedelta(minutes=1)))
    stream = client.subscribe(path, callback=InboundHandler(name, sender))
    try:
        data, attributes = cloudevent(APPROVED)
        probe, attributes = probed(attributes)
        [message_id] = publish(SETTLEMENT_EVENTS, [(data, attributes)], project=project)
        letter = wait_for(lambda: dead_letter(probe, name), what="dead letter")
        assert (letter.reason, letter.data) == (UNKNOWN_SUBSCRIPTION, data)
        assert_announced(announcements, letter, message_id)
    finally:
        stream.cancel()
        sender.close()
        client.delete_subscription(subscription=path)
        client.close()
