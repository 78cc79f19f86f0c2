"""Personal data sealing: AES-GCM under PII_ENCRYPTION_KEY, bound to its row."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from app.config import Settings
from app.services.compliance.pii import ConfigurationError, SealedDataError, pii_cipher

KEY = base64.b64encode(os.urandom(32)).decode()


def settings(env: str, key: str = "") -> Settings:
    return Settings(fusion_env=env, pii_encryption_key=SecretStr(key))


def test_sealed_data_opens_only_on_its_own_row() -> None:
    cipher = pii_cipher(settings("production", KEY))
    sealed = cipher.seal({"full_name": "Ada Lovelace"}, context="kyc_case:1")
    assert b"Ada" not in sealed
    assert cipher.open(sealed, context="kyc_case:1") == {"full_name": "Ada Lovelace"}
    with pytest.raises(SealedDataError):
        cipher.open(sealed, context="kyc_case:2")
    with pytest.raises(SealedDataError):
        cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), context="kyc_case:1")


def test_sealing_twice_gives_different_ciphertexts() -> None:
    cipher = pii_cipher(settings("production", KEY))
    assert cipher.seal("x", context="c") != cipher.seal("x", context="c")


def test_another_key_does_not_open_and_names_the_key() -> None:
    first = pii_cipher(settings("production", KEY))
    other = pii_cipher(settings("production", base64.b64encode(os.urandom(32)).decode()))
    sealed = first.seal({"a": 1}, context="c")
    with pytest.raises(SealedDataError, match=first.key_id):
        other.open(sealed, context="c", key_id=first.key_id)


def test_fingerprints_are_keyed() -> None:
    first = pii_cipher(settings("production", KEY))
    other = pii_cipher(settings("production", base64.b64encode(os.urandom(32)).decode()))
    assert first.fingerprint({"n": "Ada"}) == first.fingerprint({"n": "Ada"})
    assert first.fingerprint({"n": "Ada"}) != other.fingerprint({"n": "Ada"})


def test_production_refuses_to_start_without_a_key() -> None:
    with pytest.raises(ConfigurationError, match="required in production"):
        pii_cipher(settings("production"))


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_refused(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        pii_cipher(settings("development", bad))


def test_development_without_a_key_uses_a_stable_development_key() -> None:
    first = pii_cipher(settings("development"))
    assert first.development
    assert first.key_id == pii_cipher(settings("test")).key_id


def test_a_previous_key_opens_what_it_sealed_and_seals_nothing() -> None:
    old_key, new_key = KEY, base64.b64encode(os.urandom(32)).decode()
    before = pii_cipher(settings("production", old_key))
    sealed = before.seal(["Ada Lovelace"], context="screening_subject:p1")
    rotated = pii_cipher(Settings(fusion_env="production", pii_encryption_key=SecretStr(new_key),
                                  pii_previous_keys=SecretStr(f" {old_key} ,")))
    assert rotated.key_id != before.key_id
    assert rotated.open(sealed, context="screening_subject:p1",
                        key_id=before.key_id) == ["Ada Lovelace"]
    resealed = rotated.seal(["Ada Lovelace"], context="screening_subject:p1")
    with pytest.raises(SealedDataError):  # new seals use the current key only
        before.open(resealed, context="screening_subject:p1", key_id=rotated.key_id)
    forgotten = pii_cipher(settings("production", new_key))
    with pytest.raises(SealedDataError, match="PII_PREVIOUS_KEYS"):
        forgotten.open(sealed, context="screening_subject:p1", key_id=before.key_id)


def test_a_malformed_previous_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="PII_PREVIOUS_KEYS"):
        pii_cipher(Settings(fusion_env="production", pii_encryption_key=SecretStr(KEY),
                            pii_previous_keys=SecretStr("not-base64!")))
