"""The two transports: an HTTPS POST that follows no redirect, and SMTP. Both report what
happened instead of raising, so every attempt is recorded the same way."""

from __future__ import annotations

import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from app.config import Settings
from app.domain.errors import InvalidInput
from app.services.alerts.ssrf import check_url


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None
    error: str | None
    latency_ms: int


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could point a vetted public URL at an internal address.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_webhook(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> Sent:
    started = time.monotonic()

    def done(code: int | None, error: str | None) -> Sent:
        return Sent(code, error, int((time.monotonic() - started) * 1000))

    try:
        # Checked again at send time: DNS may have changed since the subscription was made.
        check_url(url, allow_private=settings.webhook_allow_private_networks)
    except InvalidInput as exc:
        return done(None, exc.message)
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 - http(s) checked
                                     headers={**headers, "Content-Type": "application/json",
                                              "User-Agent": "fusion-prime-webhooks/1"})
    try:
        with _OPENER.open(request, timeout=settings.webhook_timeout_seconds) as response:
            return done(int(response.status), None)
    except urllib.error.HTTPError as exc:
        return done(exc.code, f"HTTP {exc.code}")
    except (OSError, ValueError) as exc:
        # Connection refused, timeout, TLS failure: the receiver never answered.
        return done(None, f"{type(exc).__name__}: {str(exc)[:200]}")


def send_email(settings: Settings, to: str, subject: str, text: str) -> Sent:
    started = time.monotonic()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.alerts_from_address, to, subject
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                          timeout=settings.webhook_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
        return Sent(250, None, int((time.monotonic() - started) * 1000))
    except smtplib.SMTPResponseException as exc:
        return Sent(exc.smtp_code, f"SMTP {exc.smtp_code}",
                    int((time.monotonic() - started) * 1000))
    except (OSError, smtplib.SMTPException) as exc:
        return Sent(None, f"{type(exc).__name__}: {str(exc)[:200]}",
                    int((time.monotonic() - started) * 1000))
