"""Sends one signed webhook (Standard Webhooks) to an SSRF-checked address; reads the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from services.notifier import domain
from services.notifier.domain import AttemptResult
from services.notifier.ssrf import Checked, SsrfGuard
from services.notifier.ssrf_rules import Refused


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, guard: SsrfGuard, timeout: float) -> None:
        # The client must not follow redirects: a 3xx counts as a failure (product brief §5),
        # and a redirect could point anywhere, past the SSRF guard.
        self._client = client
        self._guard = guard
        self._timeout = timeout

    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult:
        try:
            checked = await self._guard.check(url)  # again at send time: DNS may have changed
        except Refused as refused:
            return AttemptResult(ok=False, error=f"refused ({refused.code}): {refused}"[:500])
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            # During a rotation both secrets sign; the receiver accepts either (space-separated).
            "webhook-signature": " ".join(Webhook(s).sign(webhook_id, now, body) for s in secrets),
            "user-agent": "STAX-notifier/0.1",
        }
        try:
            # Total deadline: httpx's timeout is per read, so a drip-feeding server could last.
            async with asyncio.timeout(self._timeout):
                status, retry_after = await self._post(url, checked, body, headers)
        except TimeoutError:
            return AttemptResult(ok=False, error="timeout", overloaded=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return domain.classify_http(status, retry_after)

    async def _post(
        self, url: str, checked: Checked, body: str, headers: dict[str, str]
    ) -> tuple[int, float | None]:
        """Connect to the checked address only (no second DNS lookup that could be rebound),
        keeping the original Host header and, for https, the SNI name (certificates match it)."""
        target = checked.target
        pinned = _pinned_url(url, checked)
        default = 443 if target.scheme == "https" else 80
        host = target.host if target.port == default else f"{target.host}:{target.port}"
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self._client.build_request(
            "POST",
            pinned,
            content=body.encode(),
            headers=headers | {"host": host},
            extensions=extensions,
        )
        response = await self._client.send(request, stream=True)  # the body is not read
        await response.aclose()
        retry_after = response.headers.get("retry-after", "")
        return response.status_code, domain.retry_after_seconds(retry_after, datetime.now(UTC))


def _pinned_url(url: str, checked: Checked) -> str:
    """The URL with the checked address as its host (the path and query kept as written)."""
    parts = urlsplit(url)
    address = checked.address
    host = f"[{address}]" if address.version == 6 else str(address)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{checked.target.scheme}://{host}:{checked.target.port}{path}"
