"""A PII key rotation: the old key moves to PII_PREVIOUS_KEYS, everything still opens, and
`fusion-prime compliance reseal` moves every sealed row to the new key."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import func, select

from app.config import Settings, get_settings
from app.persistence.alerts_models import NotificationPreference, WebhookSubscription
from app.persistence.compliance_models import KycCase, ScreeningSubject
from app.persistence.db import unit_of_work
from app.services.alerts import preferences, subscriptions
from app.services.compliance import kyc, screening
from app.services.compliance.pii import pii_cipher
from app.services.compliance.reseal import reseal_batch

pytestmark = pytest.mark.integration

OLD, NEW = (base64.b64encode(os.urandom(32)).decode() for _ in range(2))


def _settings(key: str, previous: str = "") -> Settings:
    return get_settings().model_copy(update={
        "pii_encryption_key": SecretStr(key), "pii_previous_keys": SecretStr(previous),
        "webhook_allow_private_networks": True})


@pytest.fixture
def rotated_env(service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI reads settings from the environment: the new key, and as previous keys the old
    one and the session's (other tests' rows are sealed under it, and reseal moves them all)."""
    session_key = base64.b64encode(pii_cipher(get_settings()).key).decode()
    monkeypatch.setenv("PII_ENCRYPTION_KEY", NEW)
    monkeypatch.setenv("PII_PREVIOUS_KEYS", f"{OLD},{session_key}")
    get_settings.cache_clear()
    try:
        yield session_key
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def _left_under(key_id: str) -> int:
    with unit_of_work() as session:
        return sum(session.scalar(query) or 0 for query in (
            select(func.count()).select_from(KycCase).where(KycCase.pii_key_id == key_id),
            select(func.count()).select_from(ScreeningSubject)
            .where(ScreeningSubject.pii_key_id == key_id),
            select(func.count()).select_from(WebhookSubscription)
            .where(WebhookSubscription.secret_key_id == key_id),
            select(func.count()).select_from(NotificationPreference)
            .where(NotificationPreference.email_key_id == key_id)))


def test_rotation_keeps_everything_readable_and_reseal_moves_it(
        service_env: dict[str, str], rotated_env: str) -> None:
    before = _settings(OLD)
    party, account = f"rot-{uuid.uuid4().hex[:8]}", f"rot-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        case_id = kyc.open_case(
            session, pii_cipher(before), party=party, document_type="passport",
            personal_data={"full_name": "Ada Lovelace", "email": "ada@example.org"},
            photo_quality="high", email_verified=True, phone_verified=False).case.case_id
        screening.register_subject(session, pii_cipher(before), party, ["Ada Lovelace"], [])
        hook, secret = subscriptions.create(session, before, url="http://127.0.0.1:9/hook",
                                            event_types=["margin_call"], description=None)
        preferences.put(session, before, account, channels=["email"], email="ada@example.org",
                        quiet_start=None, quiet_end=None, timezone="UTC")
        hook_id = hook.id
    old_id = pii_cipher(before).key_id
    assert _left_under(old_id) >= 4

    def readable(settings: Settings) -> None:
        cipher = pii_cipher(settings)
        with unit_of_work() as session:
            view = kyc.case_view(session, kyc.get_case(session, case_id), cipher, reveal=True)
            assert view["personal_data"]["full_name"] == "Ada Lovelace"
            subject = session.get(ScreeningSubject, party)
            assert subject is not None and screening.subject_names(subject, cipher) == [
                "Ada Lovelace"]
            assert subscriptions.secret_of(settings, subscriptions.get(session, hook_id)) == secret
            assert preferences.email_of(settings, preferences.find(session, account)) == (
                "ada@example.org")

    try:
        readable(_settings(NEW, OLD))  # rotated, nothing resealed yet
        from cli.main import cli  # noqa: PLC0415

        result = CliRunner().invoke(cli, ["compliance", "reseal", "--batch", "2"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["key_id"] == pii_cipher(_settings(NEW)).key_id
        assert all(report["resealed"][kind] >= 1 for kind in (
            "kyc_cases", "screening_subjects", "webhook_secrets", "notification_emails"))
        assert _left_under(old_id) == 0
        readable(_settings(NEW))  # the old key is no longer needed
    finally:
        # Back under the session's key, and no webhook left for later tests' margin events.
        session_cipher = pii_cipher(_settings(rotated_env, f"{OLD},{NEW}"))
        with unit_of_work() as session:
            while any(reseal_batch(session, session_cipher).values()):
                pass
            subscriptions.delete(session, hook_id, datetime.now(UTC))
