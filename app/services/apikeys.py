"""API keys: shown once, stored as a SHA-256 of the secret, looked up by their public id."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
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


def principal_of(session: Session, key_id: str) -> Principal | None:
    """The key's current scopes, or None once it is revoked: the console signs in with the
    full key once and then re-reads its key id on every page, so a revocation ends the
    console session at the next click."""
    key = session.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
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


class PrincipalCache:
    """Verified keys for a short while, so a busy API does not read the key table per request.

    A revocation therefore takes effect within `ttl` seconds in each process; ttl=0 disables.
    Only successes are cached, keyed by a digest of the presented key, never the key itself.
    """

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def authenticate(self, session: Session, presented: str, pepper: str = "") -> Principal | None:
        if self.ttl <= 0:
            return authenticate(session, presented, pepper)
        digest = hashlib.sha256(presented.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = authenticate(session, presented, pepper)
        if principal is not None:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[digest] = (now + self.ttl, principal)
        return principal
