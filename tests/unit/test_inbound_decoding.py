"""Decoding and routing of inbound messages: three formats, one typed event, clear refusals."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.messaging.inbound import (
    MAX_DEDUP_KEY,
    MAX_PAYLOAD_BYTES,
    Undecodable,
    cloudevent_key,
    decode,
)
from app.messaging.routing import route
from app.messaging.topology import BY_NAME, SUBSCRIPTIONS, TOPICS
from tests.messages import FORMATS, address, approved, created, deployed, encode, released


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
    assert decode(raw, attrs, "m").dedup_key == "tests:ce-1"  # ce-source + ce-id
    attrs["event_id"] = "ev-0"
    assert decode(raw, attrs, "m").dedup_key == "tests:ce-1"  # a CloudEvent's id comes first
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


PRICE = {"asset_symbol": "ETH", "price_usd": "3000.10", "timestamp": "2026-11-28T00:00:00Z"}


def cloudevent(**overrides: str | None) -> tuple[bytes, dict[str, str]]:
    raw, attributes = encode("PriceUpdated", PRICE, "cloudevents", event_id="ce-1")
    for name, value in overrides.items():
        key = "ce-" + name
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    return raw, attributes


def structured(event: dict[str, Any], content_type: str = "application/cloudevents+json"
               ) -> tuple[bytes, dict[str, str]]:
    return json.dumps(event).encode(), {"content-type": content_type}


STRUCTURED = {"specversion": "1.0", "id": "ce-1", "source": "tests", "type": "PriceUpdated",
              "time": "2026-11-28T00:00:00+01:00", "datacontenttype": "application/json",
              "data": PRICE}


def test_two_producers_may_reuse_an_id() -> None:
    first = decode(*cloudevent(source="//producer/a"), "m")
    second = decode(*cloudevent(source="//producer/b"), "m")
    assert first.dedup_key != second.dedup_key
    # The source is encoded, so a ':' in either part cannot make two pairs one key.
    assert cloudevent_key("a:b", "c") != cloudevent_key("a", "b:c")
    long = cloudevent_key("s" * 400, "id")
    assert len(long) <= MAX_DEDUP_KEY and long == cloudevent_key("s" * 400, "id")
    assert long != cloudevent_key("s" * 401, "id")


@pytest.mark.parametrize("overrides", [
    {"id": None}, {"id": ""}, {"id": "  "}, {"source": None}, {"source": ""},
    {"type": None}, {"type": ""}, {"specversion": None},
    {"time": "2026-11-28T00:00:00"},  # no offset
    {"time": "2026-11-28"}, {"time": "1764288000"}, {"time": "yesterday"},
    {"time": "2026-13-28T00:00:00Z"},
])
def test_a_cloudevent_without_its_required_attributes_is_refused(
        overrides: dict[str, str | None]) -> None:
    with pytest.raises(Undecodable) as refused:
        decode(*cloudevent(**overrides), "m")
    assert refused.value.reason == "invalid_envelope"
    assert next(iter(overrides)) in refused.value.detail


def test_ce_time_keeps_its_offset() -> None:
    event = decode(*cloudevent(time="2026-11-28T01:30:00.250+01:30"), "m")
    assert event.time == datetime(2026, 11, 28, 0, 0, 0, 250000, tzinfo=UTC)
    assert event.time is not None and event.time.utcoffset() == timedelta(hours=1, minutes=30)
    assert decode(*cloudevent(time=None), "m").time is None  # optional


def test_a_structured_cloudevent_decodes_like_a_binary_one() -> None:
    binary = decode(*cloudevent(time="2026-11-28T00:00:00+01:00"), "m")
    event = decode(*structured(STRUCTURED, "application/cloudevents+json; charset=UTF-8"), "m")
    assert (event.event_type, event.format, event.dedup_key, event.data, event.source) == (
        binary.event_type, "cloudevents", binary.dedup_key, binary.data, "tests")
    assert event.time == datetime(2026, 11, 28, tzinfo=timezone(timedelta(hours=1)))
    in_base64 = {k: v for k, v in STRUCTURED.items() if k != "data"}
    in_base64["data_base64"] = base64.b64encode(json.dumps(PRICE).encode()).decode()
    assert decode(*structured(in_base64), "m").data == binary.data
    routed = route("risk-prices", *structured(STRUCTURED), "m")
    assert routed.task_name == "risk.apply_price"


@pytest.mark.parametrize(("change", "reason"), [
    ({"id": None}, "invalid_envelope"), ({"source": ""}, "invalid_envelope"),
    ({"type": 7}, "invalid_envelope"), ({"specversion": "0.3"}, "unsupported_specversion"),
    ({"time": "2026-11-28T00:00:00"}, "invalid_envelope"),
    ({"datacontenttype": "text/plain"}, "invalid_envelope"),
    ({"data": None}, "invalid_envelope"), ({"data": [1]}, "not_an_object"),
    ({"data_base64": "@@@"}, "invalid_envelope"),
    ({"type": "Teleported"}, "unknown_event_type"),
    ({"data": {"asset_symbol": "ETH"}}, "invalid_payload"),
])
def test_structured_refusals_name_their_reason(change: dict[str, Any], reason: str) -> None:
    event = {**STRUCTURED, **change}
    event = {k: v for k, v in event.items() if v is not None}
    if "data_base64" in change:
        del event["data"]
    with pytest.raises(Undecodable) as refused:
        decode(*structured(event), "m")
    assert refused.value.reason == reason
    assert refused.value.detail


NUL = "\x00"
EXAMPLES: dict[str, dict[str, Any]] = {
    "EscrowDeployed": deployed(address(), "0xaa", "0xbb"),
    "EscrowCreated": created(address(), "0xaa", "0xbb"),
    "Approved": approved(address(), "0xaa"),
    "EscrowReleased": released(address(), "0xbb"),
    "EscrowRefunded": {"contract_address": address(), "payer": "0xaa", "amount": "1"},
    "SettlementInitiated": {"command_id": "cmd-1", "status_reason": "ok",
                            "occurred_at": "2026-11-28T00:00:00Z"},
    "PriceUpdated": dict(PRICE, source="feed"),
    "margin_call": {"event_id": "a-1", "event_type": "margin_call", "account_id": "acc-1",
                    "status": "MARGIN_CALL", "severity": "high", "health_score": "20.5"},
}


def with_nul_in_each_text_field() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for event_type, data in EXAMPLES.items():
        decode(*encode(event_type, data, "flat"), "m")  # the example itself is accepted
        for field, value in data.items():
            if isinstance(value, str) and field != "event_type":
                cases.append((event_type, field, {**data, field: value[:2] + NUL + value[2:]}))
        cases.append((event_type, "extra", {**data, "extra": {"notes": ["ok", "a" + NUL]}}))
        cases.append((event_type, "key", {**data, "bad" + NUL + "key": 1}))
    return cases


@pytest.mark.parametrize(("event_type", "field", "data"), with_nul_in_each_text_field(),
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_nul_in_any_text_field_is_an_invalid_payload(
        event_type: str, field: str, data: dict[str, Any], fmt: str) -> None:
    raw, attributes = encode(event_type, data, fmt)
    assert b"\\u0000" in raw  # JSON carries the NUL as an escape, valid JSON
    with pytest.raises(Undecodable) as refused:
        decode(raw, attributes, "m")
    assert refused.value.reason == "invalid_payload"
    assert "NUL" in refused.value.detail
    assert NUL not in refused.value.detail  # the detail itself must be storable


def test_a_nul_in_structured_data_or_any_attribute_is_refused() -> None:
    with pytest.raises(Undecodable) as refused:
        decode(*structured({**STRUCTURED, "data": {**PRICE, "source": NUL}}), "m")
    assert refused.value.reason == "invalid_payload"
    for name in ("ce-id", "ce-source", "ce-type", "event_id", "anything"):
        raw, attributes = cloudevent()
        attributes[name] = "x" + NUL
        with pytest.raises(Undecodable) as refused:
            decode(raw, attributes, "m")
        assert (refused.value.reason, NUL in refused.value.detail) == ("invalid_envelope", False)


def test_the_decoder_refuses_with_the_documented_reasons_only() -> None:
    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from app.messaging.errors import MESSAGE_REASONS  # noqa: PLC0415

    package = Path(__file__).resolve().parents[2] / "app" / "messaging"
    used = {m for f in package.glob("*.py")
            for m in re.findall(r'Undecodable\(\s*"([a-z_]+)"', f.read_text())}
    assert used == set(MESSAGE_REASONS)
