"""notifier's way to the outside world other than its own database, and the protocols handlers
see it through: webhooks (`webhook`, through the SSRF guard of `ssrf`), e-mail (`mailer`), the
Kafka channel's mirrors (`kafka_channel`) and whether a partner's topic may be written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from services.notifier.domain import AttemptResult


class WebhookChannel(Protocol):
    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult: ...


class EmailChannel(Protocol):
    async def send(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> AttemptResult: ...


class UrlGuard(Protocol):
    async def check(self, url: str) -> object:
        """Raises domain.Refused when the URL may not be called."""
        ...


# Whether notifier may write a topic (shared.kafka.visible_topics, bound in app.py).
TopicWritable = Callable[[str], Awaitable[bool]]
