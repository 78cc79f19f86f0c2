"""Process entrypoints: the inbound relay and the outbox relay, with warm shutdown."""

from __future__ import annotations

import signal
import threading
from typing import Any

from app.config import Settings
from app.logs import configure_logging, get_logger
from app.messaging.topology import SUBSCRIPTIONS
from bridges import metrics
from bridges.group_send import GroupSender, SendGroup
from bridges.inbound import InboundHandler, celery_group_sender, inbox_recorder

log = get_logger(__name__)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handle(signum: int, _: Any) -> None:
        log.info("bridge.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return stop


def run_inbound(settings: Settings, send_group: SendGroup | None = None) -> int:
    """Pull every subscription until SIGTERM/SIGINT, then finish in-flight messages and exit."""
    from google.cloud import pubsub_v1  # noqa: PLC0415 - heavy import, only here

    from bridges.pubsub import subscriber, subscription_path  # noqa: PLC0415

    configure_logging("bridge", settings.log_level, json=settings.log_json)
    from tasks.celery_app import producer_only  # noqa: PLC0415

    producer_only()
    stop = _stop_on_signals()
    client = subscriber(settings)
    flow = pubsub_v1.types.FlowControl(
        max_messages=settings.bridge_max_messages, max_bytes=settings.bridge_max_bytes,
        max_duration_per_lease_extension=settings.bridge_lease_extension_seconds)
    # Every subscription's callbacks hand their messages to one group sender: one Redis round
    # trip for whatever arrived while the previous one was in flight.
    sender = GroupSender(send_group or celery_group_sender(),
                         record_group=inbox_recorder(
                             settings.inbox_resend_after))
    futures = {
        s.name: client.subscribe(subscription_path(settings, s.name),
                                 callback=InboundHandler(s.name, sender), flow_control=flow,
                                 await_callbacks_on_shutdown=True)
        for s in SUBSCRIPTIONS
    }
    server = metrics.serve(
        settings.bridge_metrics_port,
        lambda: sender.alive and not any(f.done() for f in futures.values()),
        settings.metrics_bind_host)
    log.info("bridge.started", subscriptions=sorted(futures))
    failed: list[str] = []
    while not stop.wait(1.0):
        failed = [name for name, f in futures.items() if f.done()]
        if failed:
            log.error("bridge.stream_ended", subscriptions=failed)
            stop.set()
    # Send and ack what the callbacks handed over while the streams can still carry acks; a
    # message arriving from now on is nacked. Then stop pulling: callbacks already running
    # finish (and nack) before the streams close.
    sender.close(settings.bridge_shutdown_seconds)
    for future in futures.values():
        future.cancel()
    for name, future in futures.items():
        try:
            future.result(timeout=settings.bridge_shutdown_seconds)
        except Exception as exc:  # a cancelled stream reports its end as an error
            log.info("bridge.stream_closed", subscription=name, detail=type(exc).__name__)
    client.close()
    if server is not None:
        server.shutdown()
    log.info("bridge.stopped")
    # A stream that ended on its own is a failure a supervisor should see and restart.
    return 1 if failed else 0


def run_outbox(settings: Settings) -> int:
    """Publish the outbox until SIGTERM/SIGINT; a batch in flight completes first."""
    from bridges.outbox_relay import OutboxRelay  # noqa: PLC0415

    configure_logging("outbox-relay", settings.log_level, json=settings.log_json)
    stop = _stop_on_signals()
    relay = OutboxRelay(settings)
    metrics.watch_relay(relay)
    server = metrics.serve(settings.outbox_metrics_port, lambda: not stop.is_set(),
                           settings.metrics_bind_host)
    log.info("outbox_relay.started")
    try:
        relay.run_forever(stop)
    finally:
        relay.close()  # flush what the publisher still holds
    if server is not None:
        server.shutdown()
    log.info("outbox_relay.stopped")
    return 0
