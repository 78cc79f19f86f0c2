"""Build inbound messages in each producer format (DOMAIN.md §1) for tests."""

from __future__ import annotations

import json
import uuid
from typing import Any

FORMATS = ("cloudevents", "flat", "event_name")
SOURCE = "tests"  # ce-source of the CloudEvents built here


def encode(event_type: str, data: dict[str, Any], fmt: str,
           event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
    """(body, attributes) of one event in the given format."""
    if fmt == "cloudevents":
        attributes = {"ce-specversion": "1.0", "ce-type": event_type,
                      "ce-id": event_id or str(uuid.uuid4()), "ce-source": SOURCE,
                      "ce-time": "2026-11-28T00:00:00Z", "content-type": "application/json"}
        return json.dumps(data).encode(), attributes
    if fmt == "flat":
        attributes = {"event_type": event_type}
        if event_id:
            attributes["event_id"] = event_id
        return json.dumps(data).encode(), attributes
    envelope = {k: data[k] for k in ("transaction_hash", "block_number", "log_index",
                                     "chain_id") if k in data}
    args = {k: v for k, v in data.items() if k not in envelope}
    body = {"event_name": event_type, "args": args, **envelope}
    return json.dumps(body).encode(), ({"event_id": event_id} if event_id else {})


def dedup_key_of(fmt: str, event_id: str) -> str:
    """The dedup key `encode(..., fmt, event_id=event_id)` gives an event without chain facts:
    a CloudEvent's is its source and id (DOMAIN.md §1)."""
    return f"{SOURCE}:{event_id}" if fmt == "cloudevents" else event_id


def address() -> str:
    return "0x" + uuid.uuid4().hex + uuid.uuid4().hex[:8]


def tx() -> str:
    return "0x" + uuid.uuid4().hex * 2


def deployed(contract: str, payer: str, payee: str, wei: str = "1000000000000000000",
             approvals: int = 1, delay: int = 0, log_index: int = 0) -> dict[str, Any]:
    return {"escrow": contract, "payer": payer, "payee": payee, "amount": wei,
            "releaseDelay": delay, "approvalsRequired": approvals, "arbiter": "0x" + "0" * 40,
            "transaction_hash": tx(), "block_number": 100, "log_index": log_index,
            "chain_id": 11155111}


def created(contract: str, payer: str, payee: str, wei: str = "1000000000000000000",
            approvals: int = 1) -> dict[str, Any]:
    return {"contract_address": contract, "payer": payer, "payee": payee, "amount": wei,
            "release_time": "2026-01-01T00:00:00Z", "approvals_required": approvals,
            "transaction_hash": tx(), "block_number": 100, "chain_id": 11155111}


def approved(contract: str, approver: str) -> dict[str, Any]:
    return {"contract_address": contract, "approver": approver, "transaction_hash": tx(),
            "block_number": 101, "log_index": 1, "chain_id": 11155111}


def released(contract: str, payee: str, wei: str = "1000000000000000000") -> dict[str, Any]:
    return {"contract_address": contract, "payee": payee, "amount": wei,
            "transaction_hash": tx(), "block_number": 102, "log_index": 2,
            "chain_id": 11155111}
