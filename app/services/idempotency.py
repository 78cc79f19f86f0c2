"""Idempotency-Key records: the first response is stored with its effect, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from app.domain.errors import Conflict
from app.persistence.models import IdempotencyRecord


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def claim(session: Session, *, api_key_id: str, key: str, method: str, path: str,
          fingerprint: str) -> StoredResponse | None:
    """Claim the key for this request, or return the response already stored under it.

    The insert takes the unique-index lock, so a concurrent request with the same key waits
    for the first transaction and then sees its stored response.
    """
    inserted = session.execute(
        insert(IdempotencyRecord)
        .values(api_key_id=api_key_id, key=key, method=method, path=path,
                request_hash=fingerprint, status_code=0, response_body={})
        .on_conflict_do_nothing()
        .returning(IdempotencyRecord.key)
    ).scalar_one_or_none()
    if inserted is not None:
        return None
    record = session.get(IdempotencyRecord, (api_key_id, key), populate_existing=True)
    assert record is not None
    if (record.method, record.path, record.request_hash) != (method, path, fingerprint):
        raise Conflict("Idempotency-Key was already used with a different request",
                       code="idempotency_key_reused")
    return StoredResponse(record.status_code, record.response_body)


def complete(session: Session, *, api_key_id: str, key: str, status_code: int,
             body: dict[str, Any]) -> None:
    record = session.get(IdempotencyRecord, (api_key_id, key))
    assert record is not None
    record.status_code, record.response_body = status_code, body
