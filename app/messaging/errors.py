"""The refusal of an inbound message, for the dead-letter store."""

from __future__ import annotations


class Undecodable(Exception):
    """The message cannot be accepted; `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


# Every reason a Pub/Sub message is dead-lettered with (the `reason` of its letter and its
# announcement on fusion.deadletter.v1); tests hold the decoder and the end-to-end suite to it.
MESSAGE_REASONS = (
    "oversize",                 # larger than 256 KiB
    "malformed_json",           # the body (or a structured event's data) is not JSON
    "not_an_object",            # JSON, but not an object
    "no_event_type",            # neither ce-type, event_type nor event_name
    "unsupported_specversion",  # a CloudEvent of another version than 1.0
    "invalid_envelope",         # CloudEvents attributes missing or wrong; a NUL in an attribute
    "unknown_event_type",       # a type no payload model knows, or not routed on the subscription
    "invalid_payload",          # the payload model refused the data (a NUL anywhere in it too)
    "unknown_subscription",     # the subscription has no route table
)
