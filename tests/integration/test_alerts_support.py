"""Fixtures for the alert tests: a local webhook receiver, a local SMTP server (aiosmtpd) and a
dedicated worker on the `alerts` queue whose settings point at them. No tests here."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support import Worker, devstack


@dataclass
class Received:
    headers: Message  # case-insensitive, as HTTP header names are
    body: bytes
    at: float


@dataclass
class Receiver:
    """A local HTTP receiver answering a script of status codes (the last one repeats)."""

    statuses: list[int] = field(default_factory=lambda: [200])
    requests: list[Received] = field(default_factory=list)

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.requests.append(Received(self.headers, body,
                                               time.monotonic()))
                index = min(len(owner.requests), len(owner.statuses)) - 1
                self.send_response(owner.statuses[index])
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Inbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd hook name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp_inbox() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = devstack.free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=int(port))
    controller.start()
    yield inbox, int(port)
    controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def _set_consumer(add: bool) -> None:
    from tasks.celery_app import celery_app  # noqa: PLC0415

    control = celery_app.control
    (control.add_consumer if add else control.cancel_consumer)("alerts", reply=True)


@pytest.fixture(scope="session")
def alerts_env(service_env: dict[str, str], smtp_inbox: tuple[Inbox, int]) -> dict[str, str]:
    from app.config import get_settings  # noqa: PLC0415

    env = {"WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true", "WEBHOOK_BACKOFF_BASE_SECONDS": "0.05",
           "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_inbox[1])}
    os.environ.update(env)
    get_settings.cache_clear()
    return {**service_env, **env}


@pytest.fixture(scope="session")
def alerts_worker(alerts_env: dict[str, str], worker: Worker,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """The shared worker stops taking `alerts` tasks while this one (with the SMTP server and a
    short backoff in its settings) runs, and takes them again afterwards."""
    _set_consumer(add=False)
    log: Path = tmp_path_factory.mktemp("alerts-worker") / "worker.log"
    running = Worker(alerts_env, log, queues="alerts", concurrency=4,
                     name=f"alerts-{uuid.uuid4().hex[:6]}").start()
    yield running
    running.stop()
    _set_consumer(add=True)


def margin_event(event_type: str = "margin_call", *, severity: str = "high",
                 account: str | None = None, event_id: str | None = None) -> dict[str, Any]:
    """The inbound event the bridge hands the alerts task (tasks/inbound.py's shape)."""
    event_id = event_id or str(uuid.uuid4())
    data = {"event_id": event_id, "event_type": event_type,
            "account_id": account or f"acc-{uuid.uuid4().hex[:8]}", "health_score": "18.50",
            "previous_health_score": "31.00", "status": "MARGIN_CALL", "severity": severity,
            "total_collateral_usd": "1000.00", "total_borrow_usd": "820.00",
            "liquidation_price_drop_percent": "7.50", "message": "Margin call",
            "occurred_at": "2026-11-28T00:00:00Z"}
    message_id = uuid.uuid4().hex
    return {"event_type": event_type, "dedup_key": message_id, "message_id": message_id,
            "format": "cloudevents", "source": "tests", "time": None, "data": data}


def send_alert(event: dict[str, Any]) -> str:
    """Hand the alerts worker an inbound margin event; returns the task id to wait on."""
    from tasks.celery_app import celery_app  # noqa: PLC0415

    task_id = f"alert-{event['message_id']}"
    celery_app.send_task("alerts.handle_margin_event", task_id=task_id,
                         kwargs={"event": event, "message_id": event["message_id"]})
    return task_id


def task_result(task_id: str, timeout: float = 30) -> dict[str, Any]:
    """The finished task's return value: a duplicate is counted only once it has run."""
    from tasks.celery_app import celery_app  # noqa: PLC0415

    return dict(celery_app.AsyncResult(task_id).get(timeout=timeout))


def body_json(received: Received) -> dict[str, Any]:
    return dict(json.loads(received.body))
