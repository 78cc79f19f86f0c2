"""CloudEvents 1.0 on Pub/Sub (DOMAIN.md §1, Google's protocol binding): the envelope in binary
mode (`ce-*` attributes) or structured mode (the whole event as JSON in the body), with the
attributes the spec requires and a time that says its offset."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.messaging.errors import Undecodable

STRUCTURED = "application/cloudevents+json"
REQUIRED = ("id", "source", "type")
# RFC 3339 date-time: the offset is not optional (a naive time is whose midnight?).
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    source: str
    type: str
    time: datetime | None


def is_structured(attributes: Mapping[str, str]) -> bool:
    media_type = attributes.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() == STRUCTURED


def is_binary(attributes: Mapping[str, str]) -> bool:
    return any(f"ce-{name}" in attributes for name in ("specversion", *REQUIRED))


def binary_envelope(attributes: Mapping[str, str]) -> Envelope:
    return _envelope(lambda name: attributes.get(f"ce-{name}"), "ce-")


def structured_envelope(event: Mapping[str, Any]) -> tuple[Envelope, Any]:
    """The envelope and the data (bytes when the event carries `data_base64`)."""
    envelope = _envelope(event.get, "")
    kind = event.get("datacontenttype")
    if kind is not None and not (isinstance(kind, str) and _is_json(kind)):
        raise Undecodable("invalid_envelope", f"datacontenttype {str(kind)[:100]!r} is not JSON")
    if "data" in event and "data_base64" in event:
        raise Undecodable("invalid_envelope", "both data and data_base64 are present")
    if "data_base64" in event:
        try:
            return envelope, base64.b64decode(str(event["data_base64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Undecodable("invalid_envelope", f"data_base64 is not base64: {exc}") from exc
    if "data" not in event:
        raise Undecodable("invalid_envelope", "the event has no data")
    return envelope, event["data"]


def _is_json(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def _envelope(get: Callable[[str], Any], prefix: str) -> Envelope:
    version = get("specversion")
    if version in (None, ""):
        raise Undecodable("invalid_envelope", f"{prefix}specversion is required")
    if version != "1.0":
        raise Undecodable("unsupported_specversion", f"{prefix}specversion {version!r}")
    values: dict[str, str] = {}
    for name in REQUIRED:
        value = get(name)
        if not isinstance(value, str) or not value.strip():
            raise Undecodable("invalid_envelope",
                              f"{prefix}{name} is required and must be a non-empty string")
        values[name] = value
    return Envelope(time=_time(get("time"), prefix), **values)


def _time(value: Any, prefix: str) -> datetime | None:
    if value is None:
        return None
    text = value.upper() if isinstance(value, str) else ""
    if not RFC3339.fullmatch(text):
        raise Undecodable("invalid_envelope",
                          f"{prefix}time {str(value)[:100]!r} is not an RFC 3339 time with "
                          "an offset")
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:  # e.g. month 13
        raise Undecodable("invalid_envelope", f"{prefix}time {value!r}: {exc}") from exc
