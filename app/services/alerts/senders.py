"""The two transports: an HTTPS POST that follows no redirect, and SMTP. Both report what
happened instead of raising, so every attempt is recorded the same way."""

from __future__ import annotations

import http.client
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlsplit

from app.config import Settings
from app.domain.errors import InvalidInput
from app.services.alerts.ssrf import Resolver, VettedUrl, system_resolve, vet_url


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None
    error: str | None
    latency_ms: int


def _connect(addresses: tuple[str, ...], port: int, timeout: float | None) -> socket.socket:
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the vetted addresses only; Host still names the URL's host."""

    def __init__(self, vetted: VettedUrl, timeout: float) -> None:
        super().__init__(vetted.host, vetted.port, timeout=timeout)
        self._addresses = vetted.addresses

    def connect(self) -> None:
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As _PinnedHTTP, with TLS whose SNI and certificate check use the URL's host name."""

    def __init__(self, vetted: VettedUrl, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(vetted.host, vetted.port, timeout=timeout, context=tls)
        self._addresses, self._tls = vetted.addresses, tls

    def connect(self) -> None:
        raw = _connect(self._addresses, self.port, self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post_webhook(settings: Settings, url: str, body: bytes, headers: dict[str, str], *,
                 resolve: Resolver = system_resolve, tls: ssl.SSLContext | None = None) -> Sent:
    """POST once to the URL, connecting only to an address checked just now; a redirect is
    an answer like any other non-2xx (it could point a vetted URL at an internal address)."""
    started = time.monotonic()

    def done(code: int | None, error: str | None) -> Sent:
        return Sent(code, error, int((time.monotonic() - started) * 1000))

    try:
        # Checked again at send time: DNS may have changed since the subscription was made.
        vetted = vet_url(url, allow_private=settings.webhook_allow_private_networks,
                         resolve=resolve)
    except InvalidInput as exc:
        return done(None, exc.message)
    timeout = settings.webhook_timeout_seconds
    connection = (_PinnedHTTPS(vetted, timeout, tls or ssl.create_default_context())
                  if vetted.scheme == "https" else _PinnedHTTP(vetted, timeout))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers={
            **headers, "Content-Type": "application/json",
            "User-Agent": "fusion-prime-webhooks/1"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        # Connection refused, timeout, TLS failure: the receiver never answered.
        return done(None, f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        connection.close()
    return done(status, None if 200 <= status < 300 else f"HTTP {status}")


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
