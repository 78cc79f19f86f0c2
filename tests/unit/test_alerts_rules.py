"""Alert rules (DOMAIN.md §5): routing, signature, backoff, quiet hours, email text, SSRF."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, time

import pytest

from app.domain.alerts import notice
from app.domain.alerts.quiet_hours import QuietHours, hold_until
from app.domain.alerts.routing import Channel, channels_for, is_success, retry_after, sign, verify
from app.domain.errors import InvalidInput
from app.services.alerts.ssrf import check_url


@pytest.mark.parametrize(("severity", "channels"), [
    ("critical", {Channel.EMAIL, Channel.WEBHOOK}), ("high", {Channel.EMAIL, Channel.WEBHOOK}),
    ("medium", {Channel.EMAIL}), ("low", {Channel.EMAIL}), ("LOW", {Channel.EMAIL}),
    ("unheard-of", {Channel.EMAIL, Channel.WEBHOOK}),
])
def test_severity_routes_to_channels(severity: str, channels: set[Channel]) -> None:
    assert set(channels_for(severity)) == channels


def test_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == expected
    assert verify("s3cret", body, expected)
    assert not verify("other", body, expected)


def test_backoff_is_1_2_4_8_then_exhausted_after_5_attempts() -> None:
    assert [retry_after(n) for n in range(1, 6)] == [1, 2, 4, 8, None]
    assert retry_after(2, base_seconds=0.05) == pytest.approx(0.1)


@pytest.mark.parametrize(("code", "ok"), [(200, True), (204, True), (299, True), (301, False),
                                          (500, False), (None, False)])
def test_any_2xx_is_success(code: int | None, ok: bool) -> None:
    assert is_success(code) is ok


NIGHT = QuietHours(time(22), time(7), "Europe/Paris")


@pytest.mark.parametrize(("utc", "active"), [
    (datetime(2026, 1, 10, 20, 59, tzinfo=UTC), False),  # 21:59 Paris
    (datetime(2026, 1, 10, 21, 0, tzinfo=UTC), True),  # 22:00 Paris
    (datetime(2026, 1, 10, 23, 30, tzinfo=UTC), True),  # 00:30 Paris, after midnight
    (datetime(2026, 1, 11, 5, 59, tzinfo=UTC), True),
    (datetime(2026, 1, 11, 6, 0, tzinfo=UTC), False),  # 07:00 Paris: the window has ended
])
def test_quiet_hours_cross_midnight_in_the_accounts_timezone(utc: datetime, active: bool) -> None:
    assert NIGHT.active(utc) is active


def test_a_held_alert_waits_for_the_end_of_the_window() -> None:
    now = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)
    assert hold_until(NIGHT, critical=False, now=now) == datetime(2026, 1, 11, 6, 0, tzinfo=UTC)
    assert hold_until(NIGHT, critical=True, now=now) is None
    assert hold_until(None, critical=False, now=now) is None
    daytime = QuietHours(time(9), time(17), "UTC")
    assert hold_until(daytime, critical=False, now=now) is None
    assert not QuietHours(time(9), time(9), "UTC").active(now)


def test_the_email_says_what_happened_to_which_account_and_what_to_do() -> None:
    subject, body = notice.render({"event_type": "margin_call", "account_id": "acc-7",
                                   "severity": "high", "health_score": "18.20",
                                   "event_id": "e-1"})
    assert subject == "[HIGH] Margin call: account acc-7"
    assert "account acc-7" in body and "18.20" in body and "Add collateral" in body


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8080/",
                                 "http://169.254.169.254/latest", "http://10.0.0.1/",
                                 "ftp://example.com/", "http://user:pw@example.com/", "/rel"])
def test_private_or_odd_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url(url, allow_private=False)


def test_private_urls_are_allowed_when_the_setting_says_so() -> None:
    assert check_url("http://127.0.0.1:9/x", allow_private=True) == "http://127.0.0.1:9/x"
