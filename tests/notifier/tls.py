"""Test TLS material and an HTTPS webhook receiver that remembers, per TCP connection, the TLS
server name (SNI) it was opened for and the Host of every request it carried."""

from __future__ import annotations

import datetime as dt
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.local.receiver import ServedInThread


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext  # trusts the test CA only


def _builder(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, *, ca: bool
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def make_tls(hosts: tuple[str, ...]) -> Tls:
    """A throwaway CA and one server certificate for `hosts`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "STAX test CA")])
    ca = _builder("STAX test CA", ca_key, ca_name, ca=True).sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts])
    leaf = (
        _builder(hosts[0], key, ca_name, ca=False)
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with tempfile.TemporaryDirectory() as folder:
        chain = Path(folder) / "server.pem"
        chain.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + leaf.public_bytes(pem)
        )
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(chain)
    client = ssl.create_default_context(cadata=ca.public_bytes(pem).decode())
    return Tls(server, client)


@dataclass
class Connection:
    sni: str | None
    hosts: list[str] = field(default_factory=list)


@dataclass
class HttpsReceiver(ServedInThread):
    """HTTP/1.1 with keep-alive (so a client may reuse a connection), answering 204."""

    tls: Tls
    connections: dict[tuple[str, int], Connection] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> HttpsReceiver:
        receiver, names = self, threading.local()

        def remember_sni(_sock: Any, name: str | None, _ctx: ssl.SSLContext) -> None:
            names.sni = name  # the handshake runs in the thread that accepts

        self.tls.server.sni_callback = remember_sni

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                seen = receiver.connections[self.client_address]
                seen.hosts.append(str(self.headers.get("host")))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = super().get_request()  # TLS handshake done (SNI seen)
                receiver.connections[address] = Connection(getattr(names, "sni", None))
                return sock, address

        server = Server(("127.0.0.1", 0), Handler)
        server.socket = self.tls.server.wrap_socket(server.socket, server_side=True)
        self._serve(server)
        return self


@contextmanager
def https_receiving(hosts: tuple[str, ...]) -> Iterator[HttpsReceiver]:
    receiver = HttpsReceiver(make_tls(hosts)).start()
    try:
        yield receiver
    finally:
        receiver.stop()
