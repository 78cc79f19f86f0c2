"""Real private servers in a data dir of their own: durable by default, and a running server
that was started fast gets the durable settings when `make run` asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from tests.support import devstack


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("devstack")
    yield path
    devstack.stop_all(path, purge=True)


def _pg_settings(url: str) -> dict[str, str]:
    dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                            (["fsync", "synchronous_commit", "full_page_writes"],)).fetchall()
    return dict(rows)


def _aof(url: str) -> dict[str, str]:
    client = redis.Redis.from_url(url, decode_responses=True)
    return {**client.config_get("appendonly"), **client.config_get("appendfsync")}


def test_fast_servers_become_durable_when_durable_is_asked(data_dir: Path) -> None:
    pg = devstack.ensure_postgres(data_dir, fast_unsafe=True)
    assert _pg_settings(pg) == {"fsync": "off", "synchronous_commit": "off",
                                "full_page_writes": "off"}
    broker = devstack.ensure_redis(data_dir, fast_unsafe=True)
    assert _aof(broker)["appendonly"] == "no"

    assert devstack.ensure_postgres(data_dir, fast_unsafe=False) == pg  # same port
    assert _pg_settings(pg) == {"fsync": "on", "synchronous_commit": "on",
                                "full_page_writes": "on"}
    assert devstack.ensure_redis(data_dir, fast_unsafe=False) == broker
    assert _aof(broker) == {"appendonly": "yes", "appendfsync": "everysec"}

    # A test run against the same dir later does not make them unsafe again.
    devstack.ensure_postgres(data_dir, fast_unsafe=True)
    assert _pg_settings(pg)["synchronous_commit"] == "on"


def test_a_fresh_stack_is_durable(data_dir: Path) -> None:
    devstack.stop_all(data_dir)
    pg = devstack.ensure_postgres(data_dir, fast_unsafe=False)
    assert set(_pg_settings(pg).values()) == {"on"}
    assert _aof(devstack.ensure_redis(data_dir, fast_unsafe=False))["appendonly"] == "yes"
