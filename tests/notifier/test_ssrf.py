"""The SSRF guard: over 60 URLs refused before any connection, while a canary listener on
127.0.0.1 counts connections. Loopback spellings go through the real send path (a bug would hit
the canary); private and special ranges are only ever checked, never sent anything. Every
connection is opened through the guard, and pooled per hostname, never per address."""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpcore
import pytest

from services.notifier.adapters.ssrf import SsrfGuard
from services.notifier.adapters.webhook import WebhookSender, webhook_client
from services.notifier.domain import Refused
from tests.notifier.helpers import LOCAL, Canary
from tests.notifier.tls import https_receiving

# A test DNS: names that resolve to internal addresses (never asked of a real resolver).
FAKE_DNS = {
    "canary.test": ["127.0.0.1"],
    "v6-loopback.test": ["::1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "rebind.test": ["93.184.216.34", "127.0.0.1"],  # one public, one internal answer
    "metadata.test": ["169.254.169.254"],
    "internal.test": ["10.0.0.5"],
    "ula.test": ["fd00::5"],
    "cgnat.test": ["100.64.0.9"],
}


async def fake_resolve(host: str, _port: int) -> list[str]:
    if host not in FAKE_DNS:
        raise OSError(f"{host}: no such test name")  # never falls through to real DNS
    return FAKE_DNS[host]


def loopback_urls(port: int) -> list[str]:
    """Every one of these would reach the canary if the guard let it through."""
    hosts = [
        "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0x7f.0.0.1",
        "0177.0.0.1", "0177.1", "017700000001", "0x7f.0x0.0x0.0x1", "127.000.000.001",
        "localhost", "LOCALHOST", "localhost.", "[::1]", "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]", "[2002:7f00:1::]", "0.0.0.0", "0", "[::]", "canary.test",
        "v6-loopback.test", "mapped.test", "rebind.test",
    ]  # fmt: skip
    urls = [f"http://{h}:{port}/hook" for h in hosts]
    return [
        *urls,
        f"https://127.0.0.1:{port}/hook",
        f"http://user:secret@127.0.0.1:{port}/hook",  # credentials in URLs are refused outright
        f"http://127.0.0.1:{port}@example.org/",  # userinfo trick
    ]


PRIVATE_URLS = [
    f"http://{h}/hook"
    for h in [
        "10.0.0.1", "10.255.255.254", "10.1", "167772161", "172.16.0.1", "172.31.255.254",
        "192.168.0.1", "192.168.1.1", "3232235777", "0xc0a80101", "169.254.169.254",
        "0xa9fea9fe", "0251.0376.0251.0376", "169.254.0.1", "100.64.0.1", "100.127.255.254",
        "192.0.0.1", "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1", "224.0.0.1",
        "239.255.255.250", "240.0.0.1", "255.255.255.255", "[fc00::1]", "[fd12:3456::1]",
        "[fe80::1]", "[fe80::1%25eth0]", "[ff02::1]", "[fec0::1]", "[2001:db8::1]",
        "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]",
        "[64:ff9b::10.0.0.1]", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[2002:c0a8:101::]",
        "metadata.test", "internal.test", "ula.test", "cgnat.test", "unknown.test",
    ]
]  # fmt: skip

BAD_SCHEMES = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "ftp://127.0.0.1/x",
    "dict://127.0.0.1:11211/stat",
    "javascript:alert(1)",
    "http:///no-host",
    "http://[::1/unclosed",
]


@pytest.fixture
def canary() -> Iterator[Canary]:
    listener = Canary()
    yield listener
    listener.close()


def test_the_corpus_has_over_sixty_urls(canary: Canary) -> None:
    corpus = loopback_urls(canary.port) + PRIVATE_URLS + BAD_SCHEMES
    assert len(set(corpus)) >= 60, len(corpus)


async def test_loopback_in_every_spelling_is_refused_at_send_time_and_the_canary_never_hit(
    canary: Canary,
) -> None:
    guard = SsrfGuard([], resolve=fake_resolve)  # production: nothing allow-listed
    async with webhook_client(guard, timeout=1.0, max_connections=4) as client:
        sender = WebhookSender(client, guard, timeout=1.0)
        for url in loopback_urls(canary.port):
            result = await sender.send(
                url=url, secrets=[], webhook_id="x", body="{}", now=datetime.now(UTC)
            )
            assert not result.ok and (result.error or "").startswith("refused"), (url, result)
    assert canary.hits == 0


async def test_private_special_and_tunnelled_addresses_are_refused_before_any_connection() -> None:
    guard = SsrfGuard(LOCAL, resolve=fake_resolve)  # even with the tests' allow-list
    for url in PRIVATE_URLS + BAD_SCHEMES:
        with pytest.raises(Refused):
            await guard.check(url)
            pytest.fail(f"{url} was allowed")


async def test_the_allow_list_lets_exactly_its_subnet_through(canary: Canary) -> None:
    """The control: the canary does see a connection the guard allows, so its zero above means
    nothing connected; and only 127.0.0.1/32 is allowed, not the rest of 127/8 or ::1."""
    guard = SsrfGuard(LOCAL, resolve=fake_resolve)
    async with webhook_client(guard, timeout=1.0, max_connections=4) as client:
        sender = WebhookSender(client, guard, timeout=1.0)
        allowed = await sender.send(
            url=f"http://127.0.0.1:{canary.port}/",
            secrets=[],
            webhook_id="x",
            body="{}",
            now=datetime.now(UTC),
        )
    assert not allowed.ok and not (allowed.error or "").startswith("refused")
    assert canary.hits == 1
    for url in (f"http://127.0.0.2:{canary.port}/", f"http://[::1]:{canary.port}/"):
        with pytest.raises(Refused):
            await guard.check(url)
    checked = await guard.check("http://canary.test:8080/x")
    assert str(checked.address) == "127.0.0.1" and checked.target.host == "canary.test"


class Wire(httpcore.AsyncNetworkBackend):
    """A fake network under the guard: records where each connection goes, the TLS server name
    it asks for and the bytes written; every answer is a 204. Nothing leaves the process."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []
        self.written = bytearray()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return _WireStream(self)

    async def sleep(self, seconds: float) -> None:
        return


class _WireStream(httpcore.AsyncMockStream):
    def __init__(self, wire: Wire) -> None:
        super().__init__([b"HTTP/1.1 204 No Content\r\n\r\n"])
        self._wire = wire

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._wire.written += buffer

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
    ) -> httpcore.AsyncNetworkStream:
        self._wire.server_names.append(server_hostname)
        return self


async def _send(sender: WebhookSender, url: str) -> Any:
    return await sender.send(url=url, secrets=[], webhook_id="x", body="{}", now=datetime.now(UTC))


async def test_the_connection_goes_to_the_checked_address_with_the_original_host_and_sni() -> None:
    """Pinned: the TCP connection goes to the address the guard checked, so no second lookup
    can be rebound; Host and TLS SNI keep the partner's name (certificates are checked
    against it)."""

    async def dns(host: str, _port: int) -> list[str]:
        return {"partner.example": ["93.184.216.34"]}[host]

    guard, wire = SsrfGuard([], resolve=dns), Wire()
    async with webhook_client(guard, timeout=1.0, max_connections=4, network=wire) as client:
        result = await _send(
            WebhookSender(client, guard, timeout=1.0), "https://partner.example:8443/hooks/stax?v=1"
        )
    assert result.ok, result
    assert wire.connects == [("93.184.216.34", 8443)]
    assert wire.server_names == ["partner.example"]
    assert bytes(wire.written).startswith(b"POST /hooks/stax?v=1 HTTP/1.1\r\n")
    assert b"\r\nHost: partner.example:8443\r\n" in wire.written


async def test_a_name_that_turns_internal_after_registration_is_refused_at_send_time() -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])  # DNS rebinding

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    guard, wire = SsrfGuard([], resolve=rebinding), Wire()
    await guard.check("http://partner.example/hook")  # accepted at registration
    async with webhook_client(guard, timeout=1.0, max_connections=4, network=wire) as client:
        result = await _send(
            WebhookSender(client, guard, timeout=1.0), "http://partner.example/hook"
        )
    assert not result.ok and "169.254.169.254" in (result.error or "")
    assert wire.connects == []


async def test_a_name_that_turns_internal_between_the_check_and_the_connection_is_refused() -> None:
    """The connection itself goes through the guard: the check before sending is not what
    keeps it from an internal address."""
    answers = iter([["93.184.216.34"], ["10.0.0.5"]])

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    guard, wire = SsrfGuard([], resolve=rebinding), Wire()
    async with webhook_client(guard, timeout=1.0, max_connections=4, network=wire) as client:
        result = await _send(
            WebhookSender(client, guard, timeout=1.0), "http://partner.example/hook"
        )
    assert not result.ok and (result.error or "").startswith("refused (address_not_allowed)")
    assert "10.0.0.5" in (result.error or "") and wire.connects == []


async def test_a_pooled_connection_never_carries_a_webhook_for_another_hostname() -> None:
    """Two partners' hostnames on one address (a shared host, a CDN): each webhook travels on
    a connection opened, and its certificate verified, for its own hostname. Connections are
    still reused, per hostname."""

    async def dns(host: str, _port: int) -> list[str]:
        return {"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]}[host]

    guard = SsrfGuard(LOCAL, resolve=dns)
    with https_receiving(("a.test", "b.test")) as receiver:
        async with webhook_client(
            guard, timeout=5.0, max_connections=4, verify=receiver.tls.client
        ) as client:
            sender = WebhookSender(client, guard, timeout=5.0)
            for host in ["a.test", "b.test", "a.test", "b.test"]:
                result = await sender.send(
                    url=f"https://{host}:{receiver.port}/hook",
                    secrets=[],
                    webhook_id="msg_3",
                    body="{}",
                    now=datetime.now(UTC),
                )
                assert result.ok, (host, result)
    served = {
        (c.sni, tuple(h.split(":")[0] for h in c.hosts)) for c in receiver.connections.values()
    }
    assert served == {("a.test", ("a.test", "a.test")), ("b.test", ("b.test", "b.test"))}
