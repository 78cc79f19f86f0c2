"""Fixtures for the service tiers. Unit tests use none of them and need no server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support import (
    ROOT,
    Worker,
    create_test_database,
    devstack,
    drop_test_database,
    start_services,
)

pytest_plugins = ["tests.pubsub_fixtures"]
_TIERS = ("unit", "integration", "e2e", "fault")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test carries its tier's marker (its folder), so `-m unit` or
    `-m "not fault and not slow"` selects tiers without a marker line in each file."""
    for item in items:
        tier = item.path.relative_to(ROOT / "tests").parts[0]
        if tier in _TIERS:
            item.add_marker(tier)

# Short enough that the fault tests see a killed worker's messages redelivered within seconds;
# the production default and its reasoning are in celeryconfig.py. A worker refuses to start
# unless the visibility timeout is above the hard time limit plus the longest retry countdown,
# hence the short limits that go with it (no test task runs anywhere near them).
TEST_ENV = {
    "CELERY_VISIBILITY_TIMEOUT": "30",
    "CELERY_TASK_SOFT_TIME_LIMIT": "20",
    "CELERY_TASK_TIME_LIMIT": "25",
    "CELERY_LONG_TASK_TIME_LIMIT": "25",
    "CELERY_RETRY_BACKOFF_MAX": "4",
    "COMMAND_SWEEP_AFTER_SECONDS": "5",
    "COMMAND_SWEEP_INTERVAL_SECONDS": "2",
    "FUSION_ENV": "test",
    "LOG_LEVEL": "INFO",
    "ESCROW_REFUND_GRACE_SECONDS": "1",
    # Settlement tests would all wait for KYC otherwise; the gate tests turn it on themselves.
    "KYC_REQUIRED_FOR_SETTLEMENT": "false",
}


@pytest.fixture(scope="session")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Real PostgreSQL and Redis, a fresh database migrated to head, env for child processes."""
    data_dir = Path(os.environ.get("FUSION_TEST_DATA", ROOT / ".fusion" / "test"))
    private_broker = not os.environ.get("CELERY_BROKER_URL")
    # Servers this run starts are stopped at its end; ones already up (a developer's) stay up.
    started_here = not any(devstack.status(data_dir).values())
    servers = start_services(data_dir)
    database_url = create_test_database(servers["DATABASE_URL"])
    env = {**servers, **TEST_ENV, "DATABASE_URL": database_url}
    os.environ.update(env)
    from app.config import get_settings  # noqa: PLC0415 - settings must see the env above

    get_settings.cache_clear()
    from alembic import command  # noqa: PLC0415
    from alembic.config import Config  # noqa: PLC0415

    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")
    if private_broker:
        _flush_broker(env["CELERY_BROKER_URL"])
    yield env
    from app.persistence.db import get_engine  # noqa: PLC0415

    get_engine().dispose()
    drop_test_database(database_url)
    if started_here:
        devstack.stop_all(data_dir)


def _flush_broker(url: str) -> None:
    """Leftover messages from an earlier run would point at a database that no longer exists.
    Only our private broker is flushed; a broker the user configured is left alone."""
    import redis  # noqa: PLC0415

    redis.Redis.from_url(url).flushall()


@pytest.fixture(scope="session")
def worker(service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Worker]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    running = Worker(service_env, log).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def flask_app(service_env: dict[str, str]) -> Flask:
    from web import create_app  # noqa: PLC0415

    return create_app()


@pytest.fixture
def client(flask_app: Flask) -> FlaskClient:
    return flask_app.test_client()


@pytest.fixture(scope="session")
def api_keys(service_env: dict[str, str]) -> dict[str, str]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415
    from app.services.apikeys import create_api_key  # noqa: PLC0415

    scopes = {
        "writer": ["settlement:write", "settlement:read"],
        "reader": ["settlement:read"],
        "admin": ["admin"],
        "risk": ["risk:read", "risk:write"],
        "risk_reader": ["risk:read"],
        "compliance": ["compliance:read", "compliance:write"],
        "compliance_reader": ["compliance:read"],
    }
    with unit_of_work() as session:
        return {name: create_api_key(session, name=name, scopes=s) for name, s in scopes.items()}
