"""Decode an inbound Pub/Sub message in any of the three producer formats into one typed event.

Formats (DOMAIN.md §1): CloudEvents 1.0 in binary mode (`ce-*` attributes, body = data) or in
structured mode (`content-type: application/cloudevents+json`, the whole event in the body);
the legacy flat JSON body with an `event_type` attribute (or field); the legacy `event_name` +
`args{}` body. Anything else is `Undecodable` with a reason, for the dead-letter store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ValidationError

from app.messaging.cloudevents import (
    Envelope,
    binary_envelope,
    is_binary,
    is_structured,
    structured_envelope,
)
from app.messaging.errors import Undecodable
from app.messaging.payloads import PAYLOADS, ChainFacts

MAX_PAYLOAD_BYTES = 256 * 1024
# inbound_events.dedup_key and the inbox key are VARCHAR(300).
MAX_DEDUP_KEY = 300
Format = Literal["cloudevents", "flat", "event_name"]


class InboundEvent(BaseModel):
    event_type: str
    dedup_key: str
    message_id: str
    format: Format
    source: str | None = None
    time: AwareDatetime | None = None
    data: dict[str, Any]


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise Undecodable("malformed_json", str(exc)[:300]) from exc
    if not isinstance(body, dict):
        raise Undecodable("not_an_object", f"the body is a JSON {type(body).__name__}")
    return body


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _split(raw: bytes, attributes: Mapping[str, str]
           ) -> tuple[Format, str, dict[str, Any], Envelope | None]:
    if is_structured(attributes):
        envelope, data = structured_envelope(_json_object(raw))
        return "cloudevents", envelope.type, _data_object(data), envelope
    if is_binary(attributes):
        envelope = binary_envelope(attributes)
        return "cloudevents", envelope.type, _json_object(raw), envelope
    body = _json_object(raw)
    if "event_name" in body:
        args = body.get("args")
        if not isinstance(args, dict):
            raise Undecodable("invalid_payload", "event_name messages need an args object")
        envelope_fields = {k: v for k, v in body.items() if k not in ("event_name", "args")}
        return "event_name", str(body["event_name"]), {**envelope_fields, **args}, None
    event_type = attributes.get("event_type") or body.get("event_type")
    if not event_type:
        raise Undecodable("no_event_type", "no ce-type, event_type or event_name found")
    # The body stays whole: for margin alerts `event_type` is also a field of the data.
    return "flat", str(event_type), body, None


def _data_object(data: Any) -> dict[str, Any]:
    """A structured event's `data`, or its `data_base64` already decoded to bytes."""
    if isinstance(data, bytes):
        return _json_object(data)
    if not isinstance(data, dict):
        raise Undecodable("not_an_object", f"the event data is a JSON {type(data).__name__}")
    return data


def cloudevent_key(source: str, event_id: str) -> str:
    """`source` + `id` identify a CloudEvent (two producers may reuse an id). The source is
    percent-encoded, so the first ':' separates the two and no pair collides with another."""
    key = f"{quote(source, safe='/')}:{event_id}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    return "ce-sha256:" + hashlib.sha256(json.dumps([source, event_id]).encode()).hexdigest()


def dedup_key(event_type: str, data: Mapping[str, Any], attributes: Mapping[str, str],
              message_id: str, envelope: Envelope | None = None) -> str:
    """First present wins: chain_id:tx:log_index, chain_id:tx:event_type, a CloudEvent's
    source + id, event_id, and last the Pub/Sub message id."""
    tx, chain = data.get("transaction_hash"), data.get("chain_id")
    if tx and chain is not None:
        log_index = data.get("log_index")
        suffix = event_type if log_index is None else str(log_index)
        return f"{chain}:{str(tx).lower()}:{suffix}"
    if envelope is not None:
        return cloudevent_key(envelope.source, envelope.id)
    for candidate in (attributes.get("event_id"), data.get("event_id")):
        if candidate:
            return str(candidate)
    return message_id


def decode(raw: bytes, attributes: Mapping[str, str], message_id: str) -> InboundEvent:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise Undecodable("oversize", f"{len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    for name, value in attributes.items():
        if "\x00" in name or "\x00" in value:
            # Attributes become dedup keys and event sources: text PostgreSQL cannot store.
            raise Undecodable("invalid_envelope",
                              f"attribute {name!r} contains a NUL character (\\u0000)")
    fmt, event_type, data, envelope = _split(raw, attributes)
    model = PAYLOADS.get(event_type)
    if model is None:
        raise Undecodable("unknown_event_type", f"event type {event_type[:100]!r}")
    try:
        payload = model.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise Undecodable("invalid_payload", f"{event_type}: {fields}"[:1000]) from exc
    normalised = payload.model_dump(mode="json", by_alias=False)
    facts = normalised if isinstance(payload, ChainFacts) else data
    try:
        return InboundEvent(
            event_type=event_type,
            dedup_key=dedup_key(event_type, facts, attributes, message_id, envelope),
            message_id=message_id,
            format=fmt,
            source=envelope.source if envelope else None,
            time=envelope.time if envelope else None,
            data=normalised,
        )
    except ValidationError as exc:
        raise Undecodable("invalid_envelope", str(exc.errors()[0]["msg"])) from exc


# Undecodable lives in app.messaging.errors (the CloudEvents module raises it too); callers
# import it from here.
__all__ = ["MAX_DEDUP_KEY", "MAX_PAYLOAD_BYTES", "Format", "InboundEvent", "Undecodable",
           "cloudevent_key", "decode", "dedup_key"]
