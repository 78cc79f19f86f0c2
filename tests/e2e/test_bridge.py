"""Pub/Sub → bridge → Celery → Postgres, and the outbox → Pub/Sub, on the real emulator."""

from __future__ import annotations

import base64
import json
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.persistence.db import unit_of_work
from app.persistence.models import DeadLetter, EscrowRecord, InboundEvent
from tests.api import Api, unique
from tests.e2e.bridge_fixtures import health, metric, publish
from tests.integration.conftest import count, posted
from tests.messages import (
    FORMATS,
    address,
    approved,
    created,
    dedup_key_of,
    deployed,
    encode,
    released,
)
from tests.support import ManagedProcess, wait_for

pytestmark = pytest.mark.e2e
SETTLEMENT_EVENTS = "settlement.events.v1"


def escrow_status(contract: str) -> str | None:
    with unit_of_work() as session:
        record = session.scalars(select(EscrowRecord).where(
            EscrowRecord.contract_address == contract)).one_or_none()
        return record.status if record else None


def dead_letter(message_id: str, subscription: str = "settlement-events") -> DeadLetter | None:
    """Each subscription of the topic dead-letters its own copy; this finds one of them."""
    with unit_of_work() as session:
        return session.scalars(select(DeadLetter).where(
            DeadLetter.message_id == message_id,
            DeadLetter.subscription == subscription)).one_or_none()


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_escrow_lifecycle_in_each_format(bridge: ManagedProcess, fmt: str) -> None:
    contract, payer, payee = address(), address(), address()
    publish(SETTLEMENT_EVENTS, [encode("EscrowDeployed", deployed(contract, payer, payee), fmt),
                                encode("Approved", approved(contract, payer), fmt),
                                encode("EscrowReleased", released(contract, payee), fmt)],
            ordering_key=contract)
    wait_for(lambda: escrow_status(contract) == "released", what="escrow released")
    assert posted(payee, "ETH") == Decimal(1)


@pytest.mark.parametrize("fmt", FORMATS)
def test_settlement_statuses_and_margin_alerts_are_recorded(bridge: ManagedProcess,
                                                            fmt: str) -> None:
    event_id = unique("evt")
    status = {"command_id": unique("cmd"), "status_reason": "ok",
              "occurred_at": "2026-11-28T00:00:00Z"}
    alert = {"event_id": event_id + "-alert", "event_type": "margin_call", "account_id": "acc-1",
             "status": "MARGIN_CALL", "severity": "high", "health_score": "20.5"}
    publish(SETTLEMENT_EVENTS, [encode("SettlementConfirmed", status, fmt, event_id=event_id)])
    publish("alerts.margin.v1", [encode("margin_call", alert, fmt, event_id=event_id + "-alert")])
    for key, consumer in ((dedup_key_of(fmt, event_id), "settlement"),
                          (dedup_key_of(fmt, event_id + "-alert"), "alerts")):
        wait_for(lambda k=key, c=consumer: count(
            InboundEvent, InboundEvent.dedup_key == k, InboundEvent.consumer == c) == 1,
            what=f"{consumer} recorded {key}")


def test_the_same_message_three_times_has_one_effect(bridge: ManagedProcess) -> None:
    contract, payer, payee = address(), address(), address()
    message = encode("EscrowDeployed", deployed(contract, payer, payee), "cloudevents")
    publish(SETTLEMENT_EVENTS, [message, message, message], ordering_key=contract)
    wait_for(lambda: escrow_status(contract) == "created", what="escrow created")
    wait_for(lambda: count(InboundEvent, InboundEvent.aggregate_id == contract,
                           InboundEvent.consumer == "settlement") == 1,
             what="inbound event recorded")
    assert count(EscrowRecord, EscrowRecord.contract_address == contract) == 1


def test_created_plus_deployed_and_approval_before_deploy(bridge: ManagedProcess) -> None:
    contract, payer, payee = address(), address(), address()
    publish(SETTLEMENT_EVENTS, [encode("Approved", approved(contract, payee), "flat"),
                                encode("EscrowCreated", created(contract, payer, payee), "flat"),
                                encode("EscrowDeployed", deployed(contract, payer, payee),
                                       "event_name")], ordering_key=contract)
    wait_for(lambda: escrow_status(contract) == "approved", what="approval applied")
    assert count(EscrowRecord, EscrowRecord.contract_address == contract) == 1


BAD_MESSAGES: list[tuple[str, bytes, dict[str, str], str]] = [
    ("malformed", b"{oops", {"event_type": "Approved"}, "malformed_json"),
    ("wrong types", json.dumps({"contract_address": 7, "approver": []}).encode(),
     {"event_type": "Approved"}, "invalid_payload"),
    ("unknown type", b"{}", {"event_type": "EscrowTeleported"}, "unknown_event_type"),
    ("oversize", json.dumps({"pad": "x" * 300_000}).encode(), {"event_type": "Approved"},
     "oversize"),
]


def test_bad_messages_are_dead_lettered_and_the_bridge_keeps_going(
        bridge: ManagedProcess, bridge_env: dict[str, str]) -> None:
    ids = publish(SETTLEMENT_EVENTS, [(data, attrs) for _, data, attrs, _ in BAD_MESSAGES])
    for message_id, (name, data, _, reason) in zip(ids, BAD_MESSAGES, strict=True):
        letter = wait_for(lambda m=message_id: dead_letter(m), what=f"dead letter for {name}")
        assert letter.reason == reason, name
        assert letter.data == data and letter.subscription == "settlement-events"
    assert bridge.process is not None and bridge.process.poll() is None
    port = bridge_env["BRIDGE_METRICS_PORT"]
    assert metric(port, "bridge_messages_dead_lettered", reason="oversize") >= 1
    assert health(port) == {"status": "ok"}
    contract, payer, payee = address(), address(), address()
    publish(SETTLEMENT_EVENTS, [encode("EscrowDeployed", deployed(contract, payer, payee),
                                       "cloudevents")])
    wait_for(lambda: escrow_status(contract) == "created", what="a good message after bad ones")


def test_a_fixed_dead_letter_replays_through_the_admin_api(
        bridge: ManagedProcess, client: FlaskClient, api_keys: dict[str, str]) -> None:
    contract, payer, payee = address(), address(), address()
    broken = deployed(contract, payer, payee)
    broken["approvalsRequired"] = 7
    [message_id] = publish(SETTLEMENT_EVENTS, [encode("EscrowDeployed", broken, "flat")])
    letter = wait_for(lambda: dead_letter(message_id), what="dead letter")
    assert letter.reason == "invalid_payload"
    admin = Api(client, api_keys["admin"])
    listed = admin.get("/v1/admin/dead-letters?reason=invalid_payload").get_json()
    assert letter.id in {d["id"] for d in listed["dead_letters"]}
    assert Api(client, api_keys["writer"]).get("/v1/admin/dead-letters").status_code == 403
    still_bad = admin.post(f"/v1/admin/dead-letters/{letter.id}/replay", {})
    assert (still_bad.status_code, still_bad.get_json()["code"]) == (422, "invalid_payload")
    fixed = base64.b64encode(json.dumps({**broken, "approvalsRequired": 2}).encode()).decode()
    replayed = admin.post(f"/v1/admin/dead-letters/{letter.id}/replay", {"data_base64": fixed})
    assert replayed.status_code == 202, replayed.get_json()
    wait_for(lambda: escrow_status(contract) == "created", what="replayed escrow")
    shown = admin.get(f"/v1/admin/dead-letters/{letter.id}").get_json()
    assert shown["replay_count"] == 1 and shown["replayed_at"]


def test_chain_facts_and_api_escrows_come_out_on_settlement_results(
        bridge: ManagedProcess, relay: ManagedProcess, observe: Any, client: FlaskClient,
        api_keys: dict[str, str]) -> None:
    results = observe("settlement.results.v1")
    contract, payer, payee = address(), address(), address()
    publish(SETTLEMENT_EVENTS, [encode("EscrowDeployed", deployed(contract, payer, payee),
                                       "cloudevents"),
                                encode("Approved", approved(contract, payer), "cloudevents")],
            ordering_key=contract)

    def statuses(match: Any) -> list[str]:
        return [m.data["status"] for m in results.snapshot()
                if m.attributes.get("ce-type") == "escrow.state_changed" and match(m.data)]

    by_contract = lambda data: data.get("contract_address") == contract  # noqa: E731
    # The release comes in a later block, as on chain. Sent at once, the approval and the
    # release can run on two worker processes in either order, and a late approval of a
    # released escrow is recorded and ignored (DOMAIN.md §2), so "approved" would not appear.
    wait_for(lambda: "approved" in statuses(by_contract), what="escrow.state_changed approved")
    publish(SETTLEMENT_EVENTS, [encode("EscrowReleased", released(contract, payee),
                                       "cloudevents")], ordering_key=contract)
    wait_for(lambda: "released" in statuses(by_contract), what="escrow.state_changed released")
    assert statuses(by_contract) == ["created", "approved", "released"]
    message = next(m for m in results.snapshot() if by_contract(m.data))
    assert message.attributes["ce-specversion"] == "1.0"
    assert message.ordering_key == message.data["escrow_id"]

    api = Api(client, api_keys["writer"])
    account = unique("pubsub-payer")
    api.deposit(account, "10.00")
    accepted = api.accepted("/v1/escrows", {
        "payer": account, "payee": unique("payee"), "amount": "10.00", "asset": "USD",
        "release_delay_seconds": 0, "approvals_required": 1})
    api.settle(accepted)
    by_id = lambda data: data.get("escrow_id") == accepted["escrow_id"]  # noqa: E731
    wait_for(lambda: statuses(by_id) == ["created"], what="API escrow on settlement.results")
    accepted_events = [m for m in results.snapshot()
                       if m.attributes.get("ce-type") == "command.accepted"
                       and m.data.get("command_id") == accepted["command_id"]]
    assert accepted_events


def test_sigterm_stops_the_bridge_cleanly(bridge_env: dict[str, str], worker: Any,
                                          tmp_path: Any) -> None:
    from tests.e2e.bridge_fixtures import start_bridge  # noqa: PLC0415

    env = {**bridge_env, "BRIDGE_METRICS_PORT": "0"}
    process = start_bridge(env, tmp_path / "bridge.log")
    assert process.stop(timeout=30) == 0
    assert b"bridge.stopped" in (tmp_path / "bridge.log").read_bytes()




def test_the_outbox_relay_reports_what_it_published(relay: ManagedProcess) -> None:
    port = relay.env["OUTBOX_METRICS_PORT"]
    wait_for(lambda: metric(port, "outbox_rows_published") > 0, what="rows published")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    assert b"outbox_lag_seconds" in body
