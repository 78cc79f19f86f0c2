"""The app's broker connection (kombu's stock Redis transport) moves messages and gives an
unacked message back when the connection that held it is gone."""

from __future__ import annotations

import uuid

import pytest
from kombu import Exchange, Queue

pytestmark = pytest.mark.integration


def test_messages_round_trip_and_unacked_ones_come_back(service_env: dict[str, str]) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    name = f"transport-test-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with celery_app.connection_for_write() as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        producer = connection.Producer(serializer="json")
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name)
        held = bound.get(no_ack=False)
        assert held is not None
    # Closing a channel with an unacked message restores it (what a worker's reconnect does).
    with celery_app.connection_for_write() as connection:
        bound = queue(connection.default_channel)
        received = []
        while (message := bound.get(no_ack=False)) is not None:
            received.append(message.payload["n"])
            message.ack()
        assert sorted(received) == [0, 1, 2]
        bound.delete()
