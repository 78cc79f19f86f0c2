"""Webhook URLs must not reach our own network: resolve the host and refuse loopback,
link-local, private, reserved and multicast addresses unless the setting allows them."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from app.domain.errors import InvalidInput


def check_url(url: str, *, allow_private: bool) -> str:
    """Return the URL when it may be called; raise InvalidInput (code `url_refused`) if not."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the webhook URL must be an absolute http(s) URL",
                           code="url_refused", field="url")
    if parts.username or parts.password:
        raise InvalidInput("the webhook URL must not carry credentials", code="url_refused",
                           field="url")
    if allow_private:
        return url
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise InvalidInput("the webhook host does not resolve", code="url_refused",
                           field="url") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]))
        if not address.is_global or address.is_multicast:
            # One bad address is enough: a resolver may hand out either at call time.
            raise InvalidInput("the webhook host resolves to a non-public address",
                               code="url_refused", field="url")
    return url
