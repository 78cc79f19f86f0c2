"""Webhook URLs must not reach our own network: resolve the host and refuse loopback,
link-local, private, reserved and multicast addresses unless the setting allows them.

`vet_url` returns the addresses it checked; the sender connects to one of those and never
resolves the name again, so a name that answers differently a moment later (DNS rebinding)
cannot steer a vetted delivery to an internal address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.domain.errors import InvalidInput

Resolver = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class VettedUrl:
    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, code="url_refused", field="url")


def _shape(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("the webhook URL must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise _refuse("the webhook URL must not carry credentials")
    return parts


def vet_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> VettedUrl:
    """Resolve the URL's host once and check every address; raise InvalidInput (code
    `url_refused`) if it may not be called."""
    parts = _shape(url)
    assert parts.hostname is not None  # _shape refuses a URL without one
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = resolve(parts.hostname, port)
        checked = [ipaddress.ip_address(a) for a in addresses]
    except (OSError, ValueError) as exc:
        raise _refuse("the webhook host does not resolve") from exc
    if not checked:
        raise _refuse("the webhook host does not resolve")
    if not allow_private and any(not a.is_global or a.is_multicast for a in checked):
        # One bad address is enough: a resolver may hand out either at call time.
        raise _refuse("the webhook host resolves to a non-public address")
    return VettedUrl(url, parts.scheme, parts.hostname, port, tuple(str(a) for a in checked))


def check_url(url: str, *, allow_private: bool, resolve: Resolver = system_resolve) -> str:
    """Return the URL when it may be called; raise InvalidInput (code `url_refused`) if not."""
    if allow_private:
        # Nothing to refuse by address: a name that does not resolve yet may be subscribed.
        _shape(url)
        return url
    return vet_url(url, allow_private=False, resolve=resolve).url
