"""Pure SSRF rules: which URLs and addresses a webhook may go to. No I/O (see ssrf.py for
that); a refusal is `domain.Refused`, which the entry points turn into an answer.

A webhook URL is partner input, so it must never let STAX reach its own network: loopback,
private ranges, cloud metadata (169.254.169.254), CGNAT, IPv6 ULA and link-local, and every
IPv6 form that wraps an IPv4 address are refused unless an operator allow-listed the subnet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.notifier.domain import Refused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lower case), for the Host header and TLS SNI
    port: int
    literal: IPAddress | None  # set when the host is an address, however it was spelled


def parse_url(url: str) -> Target:
    """Check what can be checked without DNS; literal addresses are decoded here."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused("bad_url", f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused("bad_scheme", "only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise Refused("credentials_in_url", "URLs may not carry user names or passwords")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise Refused("no_host", "the URL has no host")
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default, literal_address(host))


def literal_address(host: str) -> IPAddress | None:
    """The address a host denotes by itself: IPv6 literals and every IPv4 spelling the C
    resolver accepts (inet_aton: `2130706433`, `0x7f.1`, `0177.0.0.1`, `127.1`)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    return _inet_aton(host)


def _inet_aton(host: str) -> ipaddress.IPv4Address | None:
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    try:
        numbers = [_c_integer(p) for p in parts]
    except ValueError:
        return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for n, byte in enumerate(head):
        value += byte << (8 * (3 - n))
    return ipaddress.IPv4Address(value)


def _c_integer(text: str) -> int:
    """strtoul with base 0, as inet_aton reads each part: 0x… hex, 0… octal, else decimal."""
    lowered = text.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(lowered) > 1 and lowered.startswith("0"):
        return int(lowered[1:], 8)
    if not lowered.isdigit():
        raise ValueError(text)
    return int(lowered)


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, compatible, NAT64."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_allow_list(subnets: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(s, strict=False) for s in subnets]


def refusal(ip: IPAddress, allow: Sequence[Network]) -> str | None:
    """Why `ip` may not be called, or None. The allow-list wins; otherwise only global unicast."""
    inner = embedded_ipv4(ip)
    if any(ip in net for net in allow) or (inner is not None and any(inner in n for n in allow)):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        # Tunnel forms reach IPv4 hosts we cannot see through; refuse them outright.
        if ip.sixtofour is not None or ip.teredo is not None or ip in _NAT64_LOCAL:
            return f"{ip} is a 6to4/Teredo/NAT64 tunnel address"
        if inner is not None:
            why = refusal(inner, allow)
            return f"{ip} wraps {inner}: {why}" if why else None
        if ip.is_site_local:
            return f"{ip} is site-local"
    return _plain_refusal(ip)


def _plain_refusal(ip: IPAddress) -> str | None:
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local (cloud metadata lives here)"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT (100.64/10)"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK, "'this network' (0/8)"),
        (ip.is_private, "private (RFC 1918, ULA, documentation or benchmarking)"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "not globally routable"),
    ]
    return next((f"{ip} is {why}" for hit, why in checks if hit), None)
