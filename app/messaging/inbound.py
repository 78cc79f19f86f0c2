"""Decode an inbound Pub/Sub message in any of the three producer formats into one typed event.

Formats (DOMAIN.md §1): CloudEvents 1.0 binary mode (`ce-*` attributes, body = data); the
legacy flat JSON body with an `event_type` attribute (or field); the legacy `event_name` +
`args{}` body. Anything else is `Undecodable` with a reason, for the dead-letter store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from app.messaging.payloads import PAYLOADS, ChainFacts

MAX_PAYLOAD_BYTES = 256 * 1024
Format = Literal["cloudevents", "flat", "event_name"]


class Undecodable(Exception):
    """The message cannot be accepted; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class InboundEvent(BaseModel):
    event_type: str
    dedup_key: str
    message_id: str
    format: Format
    source: str | None = None
    time: datetime | None = None
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


def _split(raw: bytes, attributes: Mapping[str, str]) -> tuple[Format, str, dict[str, Any]]:
    if attributes.get("ce-specversion") or attributes.get("ce-type"):
        if attributes.get("ce-specversion") != "1.0":
            raise Undecodable("unsupported_specversion",
                              f"ce-specversion {attributes.get('ce-specversion')!r}")
        return "cloudevents", attributes.get("ce-type", ""), _json_object(raw)
    body = _json_object(raw)
    if "event_name" in body:
        args = body.get("args")
        if not isinstance(args, dict):
            raise Undecodable("invalid_payload", "event_name messages need an args object")
        envelope = {k: v for k, v in body.items() if k not in ("event_name", "args")}
        return "event_name", str(body["event_name"]), {**envelope, **args}
    event_type = attributes.get("event_type") or body.get("event_type")
    if not event_type:
        raise Undecodable("no_event_type", "no ce-type, event_type or event_name found")
    # The body stays whole: for margin alerts `event_type` is also a field of the data.
    return "flat", str(event_type), body


def dedup_key(event_type: str, data: Mapping[str, Any], attributes: Mapping[str, str],
              message_id: str) -> str:
    """First present wins: chain_id:tx:log_index, chain_id:tx:event_type, ce-id, event_id,
    and last the Pub/Sub message id."""
    tx, chain = data.get("transaction_hash"), data.get("chain_id")
    if tx and chain is not None:
        log_index = data.get("log_index")
        suffix = event_type if log_index is None else str(log_index)
        return f"{chain}:{str(tx).lower()}:{suffix}"
    for candidate in (attributes.get("ce-id"), attributes.get("event_id"), data.get("event_id")):
        if candidate:
            return str(candidate)
    return message_id


def decode(raw: bytes, attributes: Mapping[str, str], message_id: str) -> InboundEvent:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise Undecodable("oversize", f"{len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    fmt, event_type, data = _split(raw, attributes)
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
            dedup_key=dedup_key(event_type, facts, attributes, message_id),
            message_id=message_id,
            format=fmt,
            source=attributes.get("ce-source"),
            time=attributes.get("ce-time") or None,
            data=normalised,
        )
    except ValidationError as exc:
        raise Undecodable("invalid_envelope", str(exc.errors()[0]["msg"])) from exc
