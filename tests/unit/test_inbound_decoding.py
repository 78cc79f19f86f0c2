"""Decoding and routing of inbound messages: three formats, one typed event, clear refusals."""

from __future__ import annotations

import json

import pytest

from app.messaging.inbound import MAX_PAYLOAD_BYTES, Undecodable, decode
from app.messaging.routing import route
from app.messaging.topology import BY_NAME, SUBSCRIPTIONS, TOPICS
from tests.messages import FORMATS, address, approved, deployed, encode


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_decodes_to_the_same_event(fmt: str) -> None:
    data = deployed(address(), "0xAA", "0xBB", log_index=4)
    raw, attributes = encode("EscrowDeployed", data, fmt)
    event = decode(raw, attributes, "msg-1")
    assert event.event_type == "EscrowDeployed"
    assert event.format == fmt
    assert event.data["payer"] == "0xaa"  # addresses are compared lower-cased
    assert event.data["release_delay"] == 0
    assert event.dedup_key == f"11155111:{data['transaction_hash'].lower()}:4"


def test_dedup_key_precedence() -> None:
    no_log = approved(address(), "0x1")
    del no_log["log_index"]
    raw, attrs = encode("Approved", no_log, "flat")
    assert decode(raw, attrs, "m").dedup_key.endswith(":Approved")
    price = {"asset_symbol": "eth", "price_usd": "3000.10", "timestamp": "2026-11-28T00:00:00Z"}
    raw, attrs = encode("PriceUpdated", price, "cloudevents", event_id="ce-1")
    assert decode(raw, attrs, "m").dedup_key == "ce-1"
    raw, attrs = encode("PriceUpdated", price, "flat", event_id="ev-1")
    assert decode(raw, attrs, "m").dedup_key == "ev-1"
    raw, attrs = encode("PriceUpdated", price, "flat")
    assert decode(raw, attrs, "pubsub-7").dedup_key == "pubsub-7"


@pytest.mark.parametrize(("raw", "attributes", "reason"), [
    (b"{not json", {"event_type": "Approved"}, "malformed_json"),
    (b"[1,2]", {"event_type": "Approved"}, "not_an_object"),
    (b'{"price_usd": NaN}', {"event_type": "PriceUpdated"}, "malformed_json"),
    (b"\xff\xfe", {"event_type": "Approved"}, "malformed_json"),
    (b"{}", {}, "no_event_type"),
    (b"{}", {"event_type": "Teleported"}, "unknown_event_type"),
    (b'{"contract_address": 5}', {"event_type": "Approved"}, "invalid_payload"),
    (b'{"asset_symbol": "ETH", "price_usd": "1e9", "timestamp": "2026-01-01T00:00:00Z"}',
     {"event_type": "PriceUpdated"}, "invalid_payload"),
    (b"{}", {"ce-specversion": "0.3", "ce-type": "Approved"}, "unsupported_specversion"),
    (b'{"event_name": "Approved", "args": 3}', {}, "invalid_payload"),
    (b'{"escrow": "0xa", "payer": "0xb", "payee": "0xB", "amount": "1", "releaseDelay": 0,'
     b' "approvalsRequired": 1}', {"event_type": "EscrowDeployed"}, "invalid_payload"),
    (b'{"escrow": "0xa", "payer": "0xb", "payee": "0xc", "amount": "1", "releaseDelay": 0,'
     b' "approvalsRequired": 4}', {"event_type": "EscrowDeployed"}, "invalid_payload"),
])
def test_refusals_name_their_reason(raw: bytes, attributes: dict[str, str], reason: str) -> None:
    with pytest.raises(Undecodable) as refused:
        decode(raw, attributes, "m")
    assert refused.value.reason == reason
    assert refused.value.detail


def test_oversize_payloads_are_refused_before_parsing() -> None:
    raw = json.dumps({"pad": "x" * MAX_PAYLOAD_BYTES}).encode()
    with pytest.raises(Undecodable) as refused:
        decode(raw, {"event_type": "Approved"}, "m")
    assert refused.value.reason == "oversize"


def test_routing_table_matches_the_contract() -> None:
    topics = {s.name: (s.topic, s.queue) for s in SUBSCRIPTIONS}
    assert topics == {
        "settlement-events": ("settlement.events.v1", "settlement"),
        "risk-events": ("settlement.events.v1", "risk"),
        "risk-prices": ("market.prices.v1", "risk"),
        "alerts": ("alerts.margin.v1", "alerts"),
    }
    assert {s.topic for s in SUBSCRIPTIONS} <= set(TOPICS)
    assert "fusion.deadletter.v1" in TOPICS
    assert all(name.split(".")[0] == BY_NAME[sub].queue or sub.startswith("settlement")
               for sub in BY_NAME for name in BY_NAME[sub].routes.values())


def test_route_gives_task_queue_and_deterministic_id() -> None:
    data = approved(address(), "0x1")
    raw, attrs = encode("Approved", data, "cloudevents")
    first = route("settlement-events", raw, attrs, "m1")
    again = route("settlement-events", raw, attrs, "m2")  # a redelivery with a new message id
    risk = route("risk-events", raw, attrs, "m1")
    assert (first.task_name, first.queue) == ("settlement.apply_chain_event", "settlement")
    assert first.task_id == again.task_id
    assert (risk.task_name, risk.queue) == ("risk.record_event", "risk")
    assert risk.task_id != first.task_id
    with pytest.raises(Undecodable) as refused:
        route("risk-prices", raw, attrs, "m1")  # an escrow event on the prices subscription
    assert refused.value.reason == "unknown_event_type"


def test_a_price_with_a_naive_timestamp_is_refused() -> None:
    raw, attrs = encode("PriceUpdated", {"asset_symbol": "ETH", "price_usd": "3000.00",
                                         "timestamp": "2026-11-28T00:00:00"}, "flat")
    with pytest.raises(Undecodable) as refused:
        decode(raw, attrs, "m")
    assert refused.value.reason == "invalid_payload"
