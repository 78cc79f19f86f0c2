"""Keyset paging, newest first: a page ends with a cursor naming its last row, so the next page
starts right after it however many rows arrived since (OFFSET would skip or repeat them)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from app.domain.errors import InvalidInput

T = TypeVar("T")
MAX_PAGE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def clamp(limit: int | None, default: int = 50) -> int:
    return max(1, min(limit or default, MAX_PAGE))


def encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(at), key
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this API returned", code="invalid_cursor",
                           field="cursor") from exc
