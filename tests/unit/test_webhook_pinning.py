"""DNS rebinding: the webhook sender resolves the host once, checks those addresses and connects
to them, never resolving the name again. The receivers are real HTTP(S) servers on loopback;
the names exist only in a resolver that answers differently on every later lookup, as a
rebinding attacker's DNS does."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.config import Settings
from app.services.alerts.senders import post_webhook

NAME = "hooks.rebind.test"


class _Receiver(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append({"host": self.headers["Host"], "path": self.path, "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class Rebinding:
    """First lookup: the receiver's address; every later one: an address nothing listens on."""

    def __init__(self, first: str, later: str = "192.0.2.1") -> None:
        self.first, self.later, self.calls = first, later, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return [self.first if self.calls == 1 else self.later]


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    _Receiver.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from _serve()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def https_port(certificate: tuple[Path, Path]) -> Iterator[int]:
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(*certificate)
    yield from _serve(server_tls)


def _settings() -> Settings:
    # Loopback is where the test receiver lives; the address check itself is tested with
    # allow_private=False in test_alerts_rules.
    return Settings(webhook_allow_private_networks=True, webhook_timeout_seconds=5)


def test_the_sender_connects_to_the_address_it_checked(http_port: int) -> None:
    resolver = Rebinding("127.0.0.1")
    sent = post_webhook(_settings(), f"http://{NAME}:{http_port}/hook?x=1", b'{"a": 1}',
                        {"X-Signature": "s"}, resolve=resolver)
    assert (sent.status_code, sent.error) == (204, None)
    assert resolver.calls == 1
    assert _Receiver.seen == [{"host": f"{NAME}:{http_port}", "path": "/hook?x=1",
                               "body": b'{"a": 1}'}]


def test_a_name_that_rebinds_to_a_private_address_is_refused_before_connecting() -> None:
    resolver = Rebinding("127.0.0.1")
    sent = post_webhook(Settings(webhook_allow_private_networks=False),
                        f"http://{NAME}:9/hook", b"{}", {}, resolve=resolver)
    assert sent.status_code is None and sent.error is not None
    assert "non-public" in sent.error
    assert resolver.calls == 1


def test_tls_uses_the_host_name_for_sni_and_the_certificate(
        https_port: int, certificate: tuple[Path, Path]) -> None:
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    resolver = Rebinding("127.0.0.1")
    sent = post_webhook(_settings(), f"https://{NAME}:{https_port}/hook", b"{}", {},
                        resolve=resolver, tls=trusted)
    assert (sent.status_code, sent.error) == (204, None)
    assert resolver.calls == 1
    # The same address under another name: the certificate does not match, so no delivery.
    other = post_webhook(_settings(), f"https://other.rebind.test:{https_port}/hook", b"{}", {},
                         resolve=Rebinding("127.0.0.1"), tls=trusted)
    assert other.status_code is None and other.error is not None
    assert "certificate" in other.error.lower() or "hostname" in other.error.lower()
