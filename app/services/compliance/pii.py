"""Personal data at rest: AES-256-GCM under PII_ENCRYPTION_KEY (base64 of 32 bytes).

Every sealed value is `version byte | 12-byte random nonce | ciphertext+tag`, bound to its row by
the associated data (e.g. "kyc_case:<id>"), so a ciphertext copied onto another row does not
open. The key id (first 8 bytes of SHA-256 of the key, hex) is stored next to each value: after
a key rotation it tells which rows still need re-sealing.

Rotation: the new key becomes PII_ENCRYPTION_KEY and the old one moves to PII_PREVIOUS_KEYS
(comma-separated), which only opens; `fusion-prime compliance reseal` then moves every row to
the current key, after which the old key can be dropped.

Without a key, development and test derive a fixed, publicly known key (and say so loudly in
the log): personal data is then obfuscated, not protected. Production refuses to start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.config import Settings
from app.logs import get_logger

log = get_logger(__name__)
_FORMAT = b"\x01"
_NONCE_BYTES = 12
_DEV_KEY = hashlib.sha256(b"fusion-prime development PII key - NOT SECRET").digest()


class ConfigurationError(RuntimeError):
    """The process must not start with this configuration."""


class SealedDataError(RuntimeError):
    """A sealed value does not open: another key, another row, or tampering."""


@dataclass(frozen=True)
class PiiCipher:
    key: bytes
    key_id: str
    development: bool
    # Keys that used to be current, by key id: they open what they sealed, and seal nothing.
    previous: tuple[tuple[str, bytes], ...] = ()

    def seal(self, value: Any, *, context: str) -> bytes:
        plain = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        return _FORMAT + nonce + AESGCM(self.key).encrypt(nonce, plain, context.encode())

    def fingerprint(self, value: Any) -> str:
        """A keyed hash of personal data (to tell a replayed request from another), which,
        unlike a plain hash, cannot be confirmed by guessing the data."""
        plain = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
        mac_key = hashlib.sha256(b"fingerprint\0" + self.key).digest()
        return hmac.new(mac_key, plain, hashlib.sha256).hexdigest()

    def open(self, blob: bytes, *, context: str, key_id: str | None = None) -> Any:
        key = self._key_for(key_id)
        if blob[:1] != _FORMAT:
            raise SealedDataError("unknown sealed-data format")
        nonce, sealed = blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:]
        try:
            return json.loads(AESGCM(key).decrypt(nonce, sealed, context.encode()))
        except InvalidTag as exc:
            raise SealedDataError("sealed data does not open (wrong key or row)") from exc

    def _key_for(self, key_id: str | None) -> bytes:
        if key_id is None or key_id == self.key_id:
            return self.key
        for old_id, old_key in self.previous:
            if old_id == key_id:
                return old_key
        known = ", ".join([self.key_id, *(i for i, _ in self.previous)])
        raise SealedDataError(f"sealed under key {key_id}, which is neither PII_ENCRYPTION_KEY "
                              f"nor in PII_PREVIOUS_KEYS (known: {known})")


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def _decode(text: str, name: str = "PII_ENCRYPTION_KEY") -> bytes:
    try:
        padded = text + "=" * (-len(text) % 4)
        key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{name} must be base64 (32 random bytes: "
                                 "`openssl rand -base64 32`)") from exc
    if len(key) != 32:
        raise ConfigurationError(f"{name} must decode to 32 bytes, got {len(key)}")
    return key


@lru_cache(maxsize=4)
def _cipher(secret: str, env: str, previous: str = "") -> PiiCipher:
    old = tuple((_key_id(k), k) for k in (_decode(t.strip(), "PII_PREVIOUS_KEYS")
                                          for t in previous.split(",") if t.strip()))
    if secret:
        key = _decode(secret)
        return PiiCipher(key, _key_id(key), development=False, previous=old)
    if env == "production":
        raise ConfigurationError(
            "PII_ENCRYPTION_KEY is required in production (base64 of 32 random bytes: "
            "`openssl rand -base64 32`); refusing to start")
    return PiiCipher(_DEV_KEY, _key_id(_DEV_KEY), development=True, previous=old)


def check_pii_key(settings: Settings) -> None:
    """Raise ConfigurationError when this process must not start (production without a key,
    or a malformed key). Logs nothing: it runs at import, before logging is configured."""
    _cipher(settings.pii_encryption_key.get_secret_value().strip(), settings.fusion_env,
            settings.pii_previous_keys.get_secret_value())


_warned_development = False


def pii_cipher(settings: Settings) -> PiiCipher:
    """The process's cipher; raises ConfigurationError when it must not start."""
    global _warned_development  # noqa: PLW0603 - once per process, on first use
    cipher = _cipher(settings.pii_encryption_key.get_secret_value().strip(),
                     settings.fusion_env, settings.pii_previous_keys.get_secret_value())
    if cipher.development and not _warned_development:
        _warned_development = True
        log.warning("pii.development_key",
                    message="PII_ENCRYPTION_KEY is not set: personal data is sealed with a "
                            "fixed DEVELOPMENT key that is NOT SECRET. Never store real "
                            "personal data like this; set PII_ENCRYPTION_KEY.",
                    fusion_env=settings.fusion_env)
    return cipher
