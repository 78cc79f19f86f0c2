"""API keys: shown once, stored as a SHA-256 of the secret, looked up by their public id."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.domain.errors import InvalidInput
from app.persistence.models import ApiKey, utcnow

SCOPES = frozenset({
    "settlement:write", "settlement:read", "risk:read", "risk:write",
    "compliance:read", "compliance:write", "admin",
})
_PREFIX = "fp"


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _digest(secret: str, pepper: str) -> str:
    # Keys are 256-bit random, so a fast hash is enough; the pepper keeps a leaked table useless.
    return hashlib.sha256(f"{pepper}{secret}".encode()).hexdigest()


def create_api_key(session: Session, *, name: str, scopes: list[str], pepper: str = "") -> str:
    """Store a new key and return it in full: the only time it is ever visible."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        raise InvalidInput(f"unknown or missing scopes {unknown}; choose from {sorted(SCOPES)}",
                           code="invalid_scope")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    session.add(ApiKey(key_id=key_id, name=name, secret_hash=_digest(secret, pepper),
                       scopes=sorted(set(scopes))))
    return f"{_PREFIX}_{key_id}_{secret}"


def authenticate(session: Session, presented: str, pepper: str = "") -> Principal | None:
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX:
        return None
    _, key_id, secret = parts
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, _digest(secret, pepper)):
        return None
    return Principal(key.key_id, key.name, frozenset(key.scopes))


def revoke_api_key(session: Session, key_id: str) -> bool:
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        return False
    key.revoked_at = utcnow()
    return True


def list_api_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))
