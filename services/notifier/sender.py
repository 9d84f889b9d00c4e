"""Sends one signed webhook (Standard Webhooks) and classifies the answer."""

from __future__ import annotations

from datetime import datetime

import httpx
from standardwebhooks import Webhook

from services.notifier.domain import AttemptResult


class WebhookSender:
    def __init__(self, client: httpx.AsyncClient) -> None:
        # The client must not follow redirects: a 3xx counts as a failure (product brief §5).
        self._client = client

    async def send(
        self, *, url: str, secret: str, webhook_id: str, body: str, now: datetime
    ) -> AttemptResult:
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(webhook_id, now, body),
            "user-agent": "STAX-notifier/0.1",
        }
        try:
            response = await self._client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return AttemptResult(ok=True)
        return AttemptResult(
            ok=False, error=f"HTTP {response.status_code}", retry_after=_retry_after(response)
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
