"""Sends one signed webhook (Standard Webhooks) through the SSRF guard; reads the answer."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from datetime import UTC, datetime

import httpcore
import httpx
from standardwebhooks import Webhook

from services.notifier import domain
from services.notifier.adapters.ssrf import GuardedNetwork, SsrfGuard
from services.notifier.domain import AttemptResult, Refused

# The most of an answer's body read (and dropped): enough for any acknowledgement, so the
# connection can be reused; past it the connection is closed rather than read on.
MAX_ANSWER_BYTES = 64 * 1024


def webhook_client(
    guard: SsrfGuard,
    *,
    timeout: float,
    max_connections: int,
    verify: ssl.SSLContext | bool = True,
    network: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The only client webhooks may use: every connection is opened through the guard
    (GuardedNetwork), redirects are never followed (a 3xx is a failure, and a redirect could
    point anywhere), and no proxy is taken from the environment (it would connect instead).
    `timeout` bounds each network operation; WebhookSender bounds the whole send. `network`
    is what GuardedNetwork connects with (tests give a fake one)."""
    limits = httpx.Limits(max_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)
    # httpx takes no network backend, so its pool is replaced by one with the same settings
    # and ours (httpx is pinned below 0.29; the webhook tests fail if this stops working).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetwork(guard, network),
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient, guard: SsrfGuard, timeout: float) -> None:
        """`client` comes from webhook_client (the guard at every connection)."""
        self._client = client
        self._guard = guard
        self._timeout = timeout

    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult:
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
                # Checked here too, though each new connection is: a pooled connection was
                # approved when it opened, and a URL refused now gets nothing, even on it.
                await self._guard.check(url)
                status, retry_after = await self._post(url, body, headers)
        except Refused as refused:
            return AttemptResult(ok=False, error=f"refused ({refused.code}): {refused}"[:500])
        except TimeoutError:
            return AttemptResult(ok=False, error="timeout", overloaded=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return domain.classify_http(status, retry_after)

    async def _post(self, url: str, body: str, headers: dict[str, str]) -> tuple[int, float | None]:
        # The URL as the partner wrote it: Host, TLS SNI and the certificate check all use its
        # hostname, and the pool keys connections by it (see GuardedNetwork).
        async with self._client.stream(
            "POST", url, content=body.encode(), headers=headers
        ) as response:
            await _drain(response)
            retry_after = response.headers.get("retry-after", "")
            return response.status_code, domain.retry_after_seconds(retry_after, datetime.now(UTC))


async def _drain(response: httpx.Response) -> None:
    """Read the answer's body and drop it: a connection goes back to the pool only once its
    answer has been read to the end. Raw bytes (nothing decompressed), and no more than
    MAX_ANSWER_BYTES: stopping early closes the connection instead."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            return
