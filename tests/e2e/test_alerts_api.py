"""The alerts API (webhooks, deliveries, preferences) and Pub/Sub → bridge → signed webhook."""

# ruff: noqa: F811 - fixtures imported from test_alerts_support are requested by name

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.config import Settings
from app.domain.alerts.routing import verify
from tests.api import Api
from tests.e2e.bridge_fixtures import publish
from tests.integration.test_alerts_support import (  # noqa: F401 - fixtures
    Receiver,
    alerts_env,
    alerts_worker,
    body_json,
    margin_event,
    receiver,
    smtp_inbox,
)
from tests.messages import encode
from tests.support import ManagedProcess, Worker, devstack, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def bridge_env(service_env: dict[str, str], pubsub_emulator: dict[str, str],
               pubsub_topology: list[str]) -> Iterator[dict[str, str]]:
    """This module's bridge gets a Pub/Sub project of its own: a second bridge process on the
    session's subscriptions misses messages the emulator still routes to the stopped one's
    stream (seen as test_bridge.py timing out when it runs after another bridge)."""
    from app.config import get_settings  # noqa: PLC0415
    from bridges.provision import init_pubsub  # noqa: PLC0415

    project = {"PUBSUB_PROJECT_ID": f"fusion-alerts-{uuid.uuid4().hex[:8]}"}
    saved = os.environ["PUBSUB_PROJECT_ID"]
    os.environ.update(project)
    get_settings.cache_clear()
    init_pubsub(get_settings(), dead_letter=False)
    yield {**service_env, **pubsub_emulator, **project,
           "BRIDGE_METRICS_PORT": str(devstack.free_port())}
    os.environ["PUBSUB_PROJECT_ID"] = saved
    get_settings.cache_clear()


def _client(**overrides: Any) -> FlaskClient:
    from web import create_app  # noqa: PLC0415

    return create_app(Settings(**overrides)).test_client()


@pytest.fixture
def admin(alerts_env: dict[str, str], api_keys: dict[str, str]) -> Iterator[Api]:
    api = Api(_client(), api_keys["admin"])
    yield api
    for hook in api.get("/v1/webhooks").get_json()["webhooks"]:
        api.client.delete(f"/v1/webhooks/{hook['id']}", headers=api.headers())


def test_webhook_lifecycle_shows_the_secret_once(admin: Api, receiver: Receiver) -> None:
    created = admin.post("/v1/webhooks", {"url": receiver.url, "event_types": ["margin_call"]})
    assert created.status_code == 201, created.get_json()
    hook = created.get_json()
    assert hook["secret"].startswith("whsec_")
    one = admin.get(f"/v1/webhooks/{hook['id']}").get_json()
    assert "secret" not in one and one["url"] == receiver.url
    assert all("secret" not in h for h in admin.get("/v1/webhooks").get_json()["webhooks"])
    rotated = admin.post(f"/v1/webhooks/{hook['id']}/rotate-secret", {}).get_json()
    assert rotated["secret"] != hook["secret"]
    assert admin.get(f"/v1/webhooks/{hook['id']}/deliveries").get_json() == {"deliveries": []}
    deleted = admin.client.delete(f"/v1/webhooks/{hook['id']}", headers=admin.headers())
    assert deleted.status_code == 200
    assert admin.get(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_bad_webhooks_are_refused(admin: Api, api_keys: dict[str, str]) -> None:
    production_like = Api(_client(webhook_allow_private_networks=False), api_keys["admin"])
    refused = production_like.post("/v1/webhooks", {"url": "http://127.0.0.1:8080/x",
                                                     "event_types": ["margin_call"]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "url_refused"
    wrong_type = admin.post("/v1/webhooks", {"url": "https://example.com/",
                                             "event_types": ["escrow.released"]})
    assert wrong_type.get_json()["code"] == "invalid_event_types"
    assert Api(admin.client, api_keys["risk"]).get("/v1/webhooks").status_code == 403


def test_notification_preferences_round_trip(alerts_env: dict[str, str],
                                             api_keys: dict[str, str]) -> None:
    risk = Api(_client(), api_keys["risk"])
    path = f"/v1/accounts/acc-{uuid.uuid4().hex[:8]}/notification-preferences"
    assert risk.get(path).status_code == 404
    body = {"channels": ["email"], "email": "desk@example.com",
            "quiet_hours": {"start": "22:00", "end": "07:00"}, "timezone": "Europe/Paris"}
    put = risk.client.put(path, json=body, headers=risk.headers())
    assert put.status_code == 200, put.get_json()
    assert risk.get(path).get_json()["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert risk.get(path).get_json()["email"] == "desk@example.com"
    bad = risk.client.put(path, json={**body, "timezone": "Mars/Olympus"}, headers=risk.headers())
    assert bad.get_json()["code"] == "invalid_timezone"
    reader = Api(risk.client, api_keys["risk_reader"])
    assert reader.client.put(path, json=body, headers=reader.headers()).status_code == 403


def test_a_margin_call_on_pubsub_becomes_a_signed_webhook(
        bridge: ManagedProcess, alerts_worker: Worker, admin: Api, receiver: Receiver) -> None:
    hook = admin.post("/v1/webhooks", {"url": receiver.url,
                                       "event_types": ["margin_call"]}).get_json()
    event = margin_event("margin_call", severity="high")
    message = encode("margin_call", event["data"], "cloudevents",
                     event_id=event["data"]["event_id"])
    publish("alerts.margin.v1", [message, message], ordering_key=event["data"]["account_id"])
    wait_for(lambda: receiver.requests, what="webhook received")
    got = receiver.requests[0]
    assert verify(hook["secret"], got.body, got.headers["X-Fusion-Prime-Signature"])
    assert body_json(got)["account_id"] == event["data"]["account_id"]
    listed = wait_for(lambda: [d for d in admin.get(
        f"/v1/webhooks/{hook['id']}/deliveries").get_json()["deliveries"]
        if d["status"] == "succeeded"], what="delivery listed")
    assert len(listed) == 1 and listed[0]["attempts"][0]["status_code"] == 200
    again = admin.post(f"/v1/deliveries/{listed[0]['id']}/redeliver", {})
    assert again.status_code == 202
    wait_for(lambda: len(receiver.requests) == 2, what="redelivered")
    assert receiver.requests[1].headers["X-Fusion-Prime-Attempt"] == "2"


def test_a_price_drop_on_pubsub_ends_as_a_signed_margin_call_webhook(
        bridge: ManagedProcess, relay: ManagedProcess, alerts_worker: Worker, admin: Api,
        receiver: Receiver, api_keys: dict[str, str]) -> None:
    """market.prices.v1 → bridge → risk → outbox → alerts.margin.v1 → bridge → alerts → webhook."""
    from datetime import UTC, datetime  # noqa: PLC0415

    risk = Api(admin.client, api_keys["risk"])
    account, now = f"chain-{uuid.uuid4().hex[:8]}", datetime.now(UTC).isoformat()
    for asset, price in (("ETH", "6000.00"), ("USDC", "1.00")):
        response = risk.post("/v1/risk/prices", {"asset_symbol": asset, "price_usd": price,
                                                 "timestamp": now})
        assert response.status_code in (200, 201), response.get_json()
    positions = {"positions": [{"asset": "ETH", "collateral": "5"},
                               {"asset": "USDC", "borrowed": "15000"}]}
    put = risk.client.put(f"/v1/risk/accounts/{account}/positions", json=positions,
                          headers=risk.headers())
    assert put.status_code in (200, 202), put.get_json()
    hook = admin.post("/v1/webhooks", {"url": receiver.url,
                                       "event_types": ["margin_call"]}).get_json()

    # 5 ETH at 3,600 against 15,000 USDC: (18,000 - 15,000) / 15,000 = 20 % → MARGIN_CALL.
    drop = {"asset_symbol": "ETH", "price_usd": "3600.00", "source": "test",
            "timestamp": datetime.now(UTC).isoformat()}
    publish("market.prices.v1", [encode("PriceUpdated", drop, "cloudevents")],
            ordering_key="ETH")

    def mine() -> list[Any]:
        return [r for r in receiver.requests if body_json(r).get("account_id") == account]

    got = wait_for(mine, timeout=90, what="a margin_call webhook for the account")[0]
    assert verify(hook["secret"], got.body, got.headers["X-Fusion-Prime-Signature"])
    assert got.headers["X-Fusion-Prime-Event-Type"] == "margin_call"
    assert body_json(got)["status"] == "MARGIN_CALL"
