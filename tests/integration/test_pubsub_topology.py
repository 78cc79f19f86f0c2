"""The Pub/Sub topology on the real emulator: resources, their settings, idempotent init, flow."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.pubsub_fixtures import pull

pytestmark = pytest.mark.integration

# DOMAIN.md §1, written out again on purpose: the test checks the table, not itself.
EXPECTED_SUBSCRIPTIONS = {
    "settlement-events": "settlement.events.v1",
    "risk-events": "settlement.events.v1",
    "risk-prices": "market.prices.v1",
    "alerts": "alerts.margin.v1",
}
EXPECTED_TOPICS = {
    "settlement.events.v1", "market.prices.v1", "alerts.margin.v1", "settlement.results.v1",
    "compliance.results.v1", "risk.snapshots.v1", "fusion.deadletter.v1",
}


def _settings() -> Any:
    from app.config import get_settings  # noqa: PLC0415

    return get_settings()


def test_topology_table_matches_the_domain_spec() -> None:
    from app.messaging.topology import SUBSCRIPTIONS, TOPICS  # noqa: PLC0415

    assert set(TOPICS) == EXPECTED_TOPICS
    assert {s.name: s.topic for s in SUBSCRIPTIONS} == EXPECTED_SUBSCRIPTIONS


def test_every_topic_exists(pubsub_topology: list[str]) -> None:
    from bridges.pubsub import publisher, topic_path  # noqa: PLC0415

    settings = _settings()
    with publisher(settings) as client:
        found = {t.name for t in client.list_topics(project=f"projects/"
                                                            f"{settings.pubsub_project_id}")}
    assert {topic_path(settings, t) for t in EXPECTED_TOPICS} <= found


def test_every_subscription_has_its_configured_settings(pubsub_topology: list[str]) -> None:
    from app.messaging.topology import DEAD_LETTER, SUBSCRIPTIONS  # noqa: PLC0415
    from bridges.pubsub import subscriber, subscription_path, topic_path  # noqa: PLC0415

    settings = _settings()
    with subscriber(settings) as client:
        for wanted in SUBSCRIPTIONS:
            got = client.get_subscription(subscription=subscription_path(settings, wanted.name))
            assert got.topic == topic_path(settings, EXPECTED_SUBSCRIPTIONS[wanted.name])
            assert got.ack_deadline_seconds == wanted.ack_deadline_seconds
            assert got.enable_message_ordering is wanted.ordering
            retention = got.message_retention_duration.total_seconds()
            assert retention == wanted.message_retention_seconds
            line = next(x for x in pubsub_topology if x.startswith(f"subscription {wanted.name} "))
            if "without dead-letter policy" in line:
                continue  # the target refused the policy and the init report said so
            policy = got.dead_letter_policy
            assert policy.dead_letter_topic == topic_path(settings, DEAD_LETTER)
            assert policy.max_delivery_attempts == wanted.max_delivery_attempts


def test_init_reports_every_resource(pubsub_topology: list[str]) -> None:
    from app.messaging.topology import SUBSCRIPTIONS, TOPICS  # noqa: PLC0415

    print("\n".join(pubsub_topology))
    assert len(pubsub_topology) == len(TOPICS) + len(SUBSCRIPTIONS)
    for line in pubsub_topology:
        assert line.split(": ", 1)[1].startswith(("created", "exists")), line


def test_init_is_idempotent(pubsub_topology: list[str]) -> None:
    from bridges.provision import init_pubsub  # noqa: PLC0415

    again = init_pubsub(_settings())
    assert len(again) == len(pubsub_topology)
    # "exists" with nothing after it: the existing resources also match the table.
    assert all(line.endswith(": exists") for line in again), again


@pytest.mark.parametrize("topic", sorted(set(EXPECTED_SUBSCRIPTIONS.values())))
def test_a_message_on_an_inbound_topic_reaches_each_of_its_subscriptions(
    pubsub_topology: list[str], topic: str
) -> None:
    from bridges.provision import init_pubsub  # noqa: PLC0415
    from bridges.pubsub import publisher, topic_path  # noqa: PLC0415

    # A project of its own, provisioned the same way: once a streaming subscriber (a bridge
    # process of another test) has attached to a subscription and left, the emulator stops
    # handing new messages to unary pulls on it, which real Pub/Sub does not do.
    settings = _settings().model_copy(
        update={"pubsub_project_id": f"fusion-probe-{uuid.uuid4().hex[:8]}"})
    init_pubsub(settings)
    marker = uuid.uuid4().hex
    client = publisher(settings)
    try:
        message_id = client.publish(
            topic_path(settings, topic), f'{{"marker": "{marker}"}}'.encode(),
            ordering_key=f"key-{marker}", **{"ce-id": marker, "ce-type": "Probe"},
        ).result(timeout=30)
    finally:
        client.stop()
    assert message_id

    def mine(msg: Any) -> bool:
        return isinstance(msg.data, dict) and msg.data.get("marker") == marker

    for name in [n for n, t in EXPECTED_SUBSCRIPTIONS.items() if t == topic]:
        (got,) = pull(name, count=1, match=mine, settings=settings)
        assert got.message_id == message_id
        assert got.attributes == {"ce-id": marker, "ce-type": "Probe"}
        assert got.ordering_key == f"key-{marker}"
