"""The SSRF guard: resolve a webhook URL's host and check every address before any connection,
and the network layer that makes every webhook connection go through it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore

from services.notifier.adapters import ssrf_rules
from services.notifier.adapters.ssrf_rules import IPAddress, Target
from services.notifier.domain import Refused

# host, port -> the addresses the host resolves to (tests inject a fake DNS here).
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Checked:
    """A URL that passed, and the address a connection for it would go to."""

    target: Target
    address: IPAddress


class SsrfGuard:
    def __init__(self, allow_subnets: Sequence[str], resolve: Resolve = system_resolve) -> None:
        self._allow = ssrf_rules.parse_allow_list(allow_subnets)
        self._resolve = resolve

    async def check(self, url: str) -> Checked:
        """The address to connect to; raises Refused."""
        target = ssrf_rules.parse_url(url)
        return Checked(target, await self._address(target.host, target.port, target.literal))

    async def address_for(self, host: str, port: int) -> IPAddress:
        """The address to connect to for a host (a name or an address, as httpcore gives it)."""
        host = host.rstrip(".").lower()
        return await self._address(host, port, ssrf_rules.literal_address(host))

    async def _address(self, host: str, port: int, literal: IPAddress | None) -> IPAddress:
        """Every resolved address must pass, or a DNS answer mixing a public and a private
        address could still reach the private one."""
        addresses = [literal] if literal is not None else await self._lookup(host, port)
        for address in addresses:
            why = ssrf_rules.refusal(address, self._allow)
            if why is not None:
                raise Refused("address_not_allowed", f"{host}: {why}")
        return addresses[0]

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = await self._resolve(host, port)
        except OSError as exc:
            raise Refused("unresolvable", f"{host} does not resolve: {exc}") from exc
        # getaddrinfo may append a scope id ("fe80::1%eth0"); the address itself is checked.
        addresses = [ssrf_rules.literal_address(a) for a in found]
        if not addresses or None in addresses:
            raise Refused("unresolvable", f"{host} resolved to nothing usable: {found}")
        return [a for a in addresses if a is not None]


class GuardedNetwork(httpcore.AsyncNetworkBackend):
    """httpcore's network layer for webhooks: each TCP connection is opened to the address the
    guard approves, at that moment, for the URL's hostname (no second lookup that DNS could
    rebind). The URL keeps the hostname, so the pool keys connections by hostname and TLS
    checks the certificate against it: a connection is never reused for another hostname,
    even when two hostnames share an address."""

    def __init__(self, guard: SsrfGuard, inner: httpcore.AsyncNetworkBackend | None = None):
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._guard.address_for(host, port)  # raises Refused
        return await self._inner.connect_tcp(
            str(address), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks never go to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
