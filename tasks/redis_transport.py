"""kombu's Redis transport, keeping one client object per channel instead of one per command.

kombu 5.x builds a new `redis.Redis` around the channel's connection pool for every publish,
ack and queue-size call (`Channel.conn_or_acquire`), and redis-py's constructor fills a table of
response callbacks each time: measured at about half the CPU of a `send_task` from the bridge.
The client holds no connection of its own (commands borrow one from the pool), so reusing it
changes nothing but the cost. It is rebuilt whenever kombu replaces the pool (after a
disconnect), so it never outlives the connections it would use. Selected by `broker_transport`
in celeryconfig.py for redis:// broker URLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _shared_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        shared = self._shared_client
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared_client = self._create_client()  # type: ignore[no-untyped-call]
        yield shared


class Transport(kombu_redis.Transport):
    Channel = Channel
