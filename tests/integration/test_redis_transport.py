"""The broker transport keeps one Redis client per channel (tasks/redis_transport.py) and still
moves messages like kombu's own."""

from __future__ import annotations

import uuid

import pytest
from kombu import Connection, Exchange, Queue

pytestmark = pytest.mark.integration

TRANSPORT = "tasks.redis_transport:Transport"


def test_a_channel_reuses_one_client_until_its_pool_is_replaced(
        service_env: dict[str, str]) -> None:
    with Connection(service_env["CELERY_BROKER_URL"], transport=TRANSPORT) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        channel._disconnect_pools()  # what kombu does after a lost connection
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()


def test_messages_round_trip_through_the_transport(service_env: dict[str, str]) -> None:
    name = f"transport-test-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    with Connection(service_env["CELERY_BROKER_URL"], transport=TRANSPORT) as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        producer = connection.Producer(serializer="json")
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name)
        received = []
        for _ in range(3):
            message = bound.get(no_ack=False)
            assert message is not None
            received.append(message.payload["n"])
            message.ack()
        assert sorted(received) == [0, 1, 2]
        assert bound.get() is None
        bound.delete()
