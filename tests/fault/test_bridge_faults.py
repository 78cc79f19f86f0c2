"""The bridge killed mid-stream, and the broker gone for a while or restarted empty: nothing
lost, nothing doubled. "Doubled" is counted on effects a second application would repeat (an
escrow, its funding transfer, its announcement), not on rows keyed by the event."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.persistence.db import unit_of_work
from app.persistence.models import DeadLetter, InboundEvent
from tests.chain_effects import created_once
from tests.e2e.bridge_fixtures import fresh_project, metric, publish, start_bridge
from tests.messages import address, dedup_key_of, deployed, encode
from tests.support import Worker, devstack, wait_for

pytestmark = pytest.mark.fault
ALERTS = "alerts.margin.v1"
SETTLEMENT_EVENTS = "settlement.events.v1"


def alerts(prefix: str, n: int) -> list[tuple[bytes, dict[str, str]]]:
    return [encode("margin_warning", {
        "event_id": f"{prefix}-{i}", "event_type": "margin_warning", "account_id": f"acc-{i % 50}",
        "status": "WARNING", "severity": "medium", "health_score": "42.00"},
        "cloudevents", event_id=f"{prefix}-{i}") for i in range(n)]


def escrows_deployed(n: int) -> tuple[list[str], list[tuple[bytes, dict[str, str]]]]:
    contracts = [address() for _ in range(n)]
    return contracts, [encode("EscrowDeployed", deployed(c, address(), address()), "cloudevents")
                       for c in contracts]


def applied_once(contracts: list[str]) -> int:
    return created_once(contracts)[0]


def database_now() -> datetime:
    with unit_of_work() as session:
        return session.scalar(select(func.now()))  # type: ignore[no-any-return]


def lettered(subscription: str, since: datetime) -> int:
    """Letters of this test: the e2e tier before it dead-letters on the same subscriptions."""
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(DeadLetter).where(
            DeadLetter.subscription == subscription, DeadLetter.received_at >= since)) or 0)


def recorded(prefix: str) -> int:
    with unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.consumer == "alerts",
            InboundEvent.dedup_key.startswith(dedup_key_of("cloudevents", prefix + "-"))))
            or 0)


@pytest.fixture
def env(service_env: dict[str, str], pubsub_emulator: dict[str, str],
        pubsub_topology: list[str]) -> dict[str, str]:
    return {**service_env, **pubsub_emulator, "BRIDGE_METRICS_PORT": str(devstack.free_port()),
            "PUBSUB_PROJECT_ID": fresh_project("fusion-fault")}


@pytest.mark.timeout(600)  # 2,000 real deliveries on a 2-core machine, plus a lease expiry
def test_killing_the_bridge_mid_stream_loses_and_doubles_nothing(
        env: dict[str, str], worker: Worker, tmp_path: Path) -> None:
    total, started = 2000, database_now()
    contracts, messages = escrows_deployed(total)
    # All of them on the subscription first, so the kill lands while they stream through.
    assert len(publish(SETTLEMENT_EVENTS, messages, project=env["PUBSUB_PROJECT_ID"])) == total
    bridge = start_bridge(env, tmp_path / "first.log")
    wait_for(lambda: applied_once(contracts) >= 300, timeout=120, what="some messages relayed")
    bridge.kill()
    at_kill = applied_once(contracts)
    second = start_bridge({**env, "BRIDGE_METRICS_PORT": "0"}, tmp_path / "second.log")
    try:
        # Messages the killed bridge held come back when their lease runs out.
        wait_for(lambda: applied_once(contracts) == total, timeout=480, interval=0.5,
                 what="every message applied after the restart")
    finally:
        assert second.stop() == 0
    assert at_kill < total
    # Exactly once each: no escrow opened twice, funded twice or announced twice.
    assert created_once(contracts) == (total, {})
    assert lettered("settlement-events", started) == 0


@pytest.fixture
def own_broker(tmp_path: Path) -> Any:
    """A Redis of this test's own, so it can be stopped without touching the others."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed"
    port = devstack.free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]

    class Broker:
        url = f"redis://127.0.0.1:{port}/0"
        process: subprocess.Popen[bytes] | None = None

        def start(self) -> None:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
            wait_for(lambda: devstack._ping(port), timeout=10, what="redis up")

        def stop(self) -> None:
            if self.process is not None:
                self.process.terminate()
                self.process.wait(timeout=10)

    broker = Broker()
    broker.start()
    yield broker
    broker.stop()


def test_a_broker_outage_acks_nothing_and_loses_nothing(
        env: dict[str, str], own_broker: Any, tmp_path: Path) -> None:
    prefix, total = f"outage-{uuid.uuid4().hex[:6]}", 60
    broker_env = {**env, "CELERY_BROKER_URL": own_broker.url,
                  "CELERY_RESULT_BACKEND": own_broker.url.replace("/0", "/1")}
    worker = Worker(broker_env, tmp_path / "worker.log", queues="alerts").start()
    bridge = start_bridge(broker_env, tmp_path / "bridge.log")
    port = broker_env["BRIDGE_METRICS_PORT"]
    try:
        own_broker.stop()
        publish(ALERTS, alerts(prefix, total), project=env["PUBSUB_PROJECT_ID"])
        wait_for(lambda: metric(port, "bridge_messages_nacked", subscription="alerts") >= 5,
                 timeout=60, what="nacks while the broker is down")
        assert metric(port, "bridge_messages_enqueued", subscription="alerts") == 0
        assert recorded(prefix) == 0
        own_broker.start()
        wait_for(lambda: recorded(prefix) == total, timeout=180, interval=0.5,
                 what="everything through after the broker is back")
        assert metric(port, "bridge_messages_enqueued", subscription="alerts") >= total
    finally:
        bridge.stop()
        worker.stop()


def sweep_through(broker: Any) -> None:
    """What beat does every COMMAND_SWEEP_INTERVAL_SECONDS, on this test's own broker."""
    from tasks.celery_app import celery_app  # noqa: PLC0415

    with celery_app.connection_for_write(broker.url) as connection, \
            connection.Producer() as producer:
        celery_app.send_task("maintenance.sweep_commands", producer=producer)


def resends(contracts: list[str]) -> int:
    with unit_of_work() as session:
        return int(session.scalar(text(
            "SELECT coalesce(sum(resends), 0) FROM inbound_inbox"
            " WHERE event->'data'->>'escrow' = ANY(CAST(:c AS text[]))"), {"c": contracts}))


@pytest.mark.timeout(600)
def test_killing_the_bridge_and_restarting_the_broker_mid_burst_applies_each_event_once(
        env: dict[str, str], own_broker: Any, tmp_path: Path) -> None:
    """The 86 lost SettlementInitiated of issue 13: the bridge acked messages once Redis had
    their tasks, then Redis restarted without them. Now the inbox has them, and the sweeper
    sends them again."""
    total, started = 300, database_now()
    broker_env = {**env, "CELERY_BROKER_URL": own_broker.url,
                  "CELERY_RESULT_BACKEND": own_broker.url.replace("/0", "/1"),
                  "INBOX_RESEND_AFTER_SECONDS": "3"}
    port = broker_env["BRIDGE_METRICS_PORT"]
    contracts, messages = escrows_deployed(total)
    publish(SETTLEMENT_EVENTS, messages, project=env["PUBSUB_PROJECT_ID"])
    # No worker yet: every task the bridge acks waits in Redis, where the restart loses it.
    bridge = start_bridge(broker_env, tmp_path / "first.log")
    try:
        wait_for(lambda: metric(port, "bridge_messages_enqueued") >= total // 2, timeout=120,
                 interval=0.2, what="part of the burst acked")
    finally:
        bridge.kill()
    own_broker.stop()
    own_broker.start()
    worker = Worker(broker_env, tmp_path / "worker.log", queues="settlement,risk")
    second = start_bridge({**broker_env, "BRIDGE_METRICS_PORT": "0"}, tmp_path / "second.log")
    last_sweep = 0.0

    def swept_and_done() -> bool:
        nonlocal last_sweep
        if time.monotonic() - last_sweep > 3:
            last_sweep = time.monotonic()
            sweep_through(own_broker)
        return applied_once(contracts) == total

    try:
        worker.start()
        wait_for(swept_and_done, timeout=300, interval=0.5,
                 what="every event applied after the broker restart")
    finally:
        worker.stop()
        assert second.stop() == 0
    assert created_once(contracts) == (total, {})
    assert resends(contracts) > 0, "nothing was lost in the restart: the test proved nothing"
    assert lettered("settlement-events", started) == 0
