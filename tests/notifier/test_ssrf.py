"""The SSRF guard: over 60 URLs refused before any connection, while a canary listener on
127.0.0.1 counts connections. Loopback spellings go through the real send path (a bug would hit
the canary); private and special ranges are only ever checked, never sent anything."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from services.notifier.ssrf import SsrfGuard
from services.notifier.ssrf_rules import Refused
from services.notifier.webhook import WebhookSender
from tests.notifier.helpers import LOCAL, Canary

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
    async with httpx.AsyncClient(follow_redirects=False) as client:
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
    async with httpx.AsyncClient(follow_redirects=False) as client:
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


async def test_the_request_goes_to_the_checked_address_with_the_original_host_and_sni() -> None:
    """Pinned: the URL carries the checked IP, so no second lookup can be rebound; Host and
    TLS SNI keep the partner's name (certificates are checked against it). httpx's own
    MockTransport stands in for the network: nothing leaves the process."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async def dns(host: str, _port: int) -> list[str]:
        return {"partner.example": ["93.184.216.34"]}[host]

    guard = SsrfGuard([], resolve=dns)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        sender = WebhookSender(client, guard, timeout=1.0)
        result = await sender.send(
            url="https://partner.example:8443/hooks/stax?v=1",
            secrets=[],
            webhook_id="msg_1",
            body="{}",
            now=datetime.now(UTC),
        )
    assert result.ok
    [request] = seen
    assert str(request.url) == "https://93.184.216.34:8443/hooks/stax?v=1"
    assert request.headers["host"] == "partner.example:8443"
    assert request.extensions["sni_hostname"] == "partner.example"


async def test_a_name_that_turns_internal_after_registration_is_refused_at_send_time() -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])  # DNS rebinding

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers)

    def never(_request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing may be sent")

    guard = SsrfGuard([], resolve=rebinding)
    await guard.check("http://partner.example/hook")  # accepted at registration
    async with httpx.AsyncClient(transport=httpx.MockTransport(never)) as client:
        result = await WebhookSender(client, guard, timeout=1.0).send(
            url="http://partner.example/hook",
            secrets=[],
            webhook_id="msg_2",
            body="{}",
            now=datetime.now(UTC),
        )
    assert not result.ok and "169.254.169.254" in (result.error or "")
