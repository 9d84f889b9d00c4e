"""Pure rules of notifier: who hears what, the webhook body, the retry schedule. No I/O here."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: Any
    partner_id: str
    event_types: Sequence[str]

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """Standard Webhooks body: `{type, timestamp, data}`, serialised once and stored as sent."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait


def next_attempt(
    schedule: Sequence[float],
    attempts_made: int,
    now: datetime,
    result: AttemptResult,
    jitter: float = 0.2,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is spent.

    ±20 % jitter spreads retries of many deliveries; Retry-After may lengthen, never shorten.
    """
    if attempts_made >= len(schedule):
        return None
    delay = schedule[attempts_made] * random.uniform(1 - jitter, 1 + jitter)  # noqa: S311
    if result.retry_after is not None:
        delay = max(delay, result.retry_after)
    return now + timedelta(seconds=delay)
