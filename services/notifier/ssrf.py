"""The SSRF guard: resolve a webhook URL's host and check every address before any connection."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.notifier import ssrf_rules
from services.notifier.ssrf_rules import IPAddress, Refused, Target

# host, port -> the addresses the host resolves to (tests inject a fake DNS here).
Resolve = Callable[[str, int], Awaitable[list[str]]]


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Checked:
    """A URL that passed: connect to `address` only, presenting `target.host` as Host and SNI."""

    target: Target
    address: IPAddress


class SsrfGuard:
    def __init__(self, allow_subnets: Sequence[str], resolve: Resolve = system_resolve) -> None:
        self._allow = ssrf_rules.parse_allow_list(allow_subnets)
        self._resolve = resolve

    async def check(self, url: str) -> Checked:
        """The address to connect to; raises Refused. Every resolved address must pass, or a
        DNS answer mixing a public and a private address could still reach the private one."""
        target = ssrf_rules.parse_url(url)
        addresses = [target.literal] if target.literal is not None else await self._lookup(target)
        for address in addresses:
            why = ssrf_rules.refusal(address, self._allow)
            if why is not None:
                raise Refused("address_not_allowed", f"{target.host}: {why}")
        return Checked(target, addresses[0])

    async def _lookup(self, target: Target) -> list[IPAddress]:
        try:
            found = await self._resolve(target.host, target.port)
        except OSError as exc:
            raise Refused("unresolvable", f"{target.host} does not resolve: {exc}") from exc
        # getaddrinfo may append a scope id ("fe80::1%eth0"); the address itself is checked.
        addresses = [ssrf_rules.literal_address(a) for a in found]
        if not addresses or None in addresses:
            raise Refused("unresolvable", f"{target.host} resolved to nothing usable: {found}")
        return [a for a in addresses if a is not None]
