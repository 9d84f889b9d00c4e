"""Attempts: how answers are classified, when to try again, when an endpoint has failed too
long."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    overloaded: bool = False  # timeout or 429: wait at least the overload penalty
    permanent: bool = False  # no retry (SMTP 5xx, HTTP 410)
    disable_endpoint: bool = False  # HTTP 410 Gone
    target_gone: bool = False  # not attempted: the endpoint is disabled or the contact removed


@dataclass(frozen=True)
class RetryPolicy:
    schedule: Sequence[float]
    jitter: float = 0.2
    overload_penalty: float = 60.0
    max_retry_after: float = 86_400.0


def next_attempt(
    schedule: Sequence[float] | RetryPolicy,
    attempts_made: int,
    now: datetime,
    result: AttemptResult,
    jitter: float = 0.2,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is spent.

    ±20 % jitter spreads retries of many deliveries; Retry-After may lengthen, never shorten
    (capped, so a receiver cannot park a delivery for ever); a timeout or a 429 waits at least
    the overload penalty, so a struggling receiver is not hammered.
    """
    policy = schedule if isinstance(schedule, RetryPolicy) else RetryPolicy(schedule, jitter, 0.0)
    if result.permanent or attempts_made >= len(policy.schedule):
        return None
    delay = policy.schedule[attempts_made] * random.uniform(1 - policy.jitter, 1 + policy.jitter)  # noqa: S311
    if result.overloaded:
        delay = max(delay, policy.overload_penalty)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after))
    return now + timedelta(seconds=delay)


def outcome_status(result: AttemptResult, retry_at: datetime | None) -> str:
    if result.ok:
        return "delivered"
    return "pending" if retry_at is not None else "failed"


def failing_too_long(
    failing_since: datetime | None, now: datetime, disable_after_days: float
) -> bool:
    """An endpoint whose every attempt failed for N days is disabled (Standard Webhooks)."""
    return failing_since is not None and now - failing_since >= timedelta(days=disable_after_days)


def classify_http(status: int, retry_after: float | None) -> AttemptResult:
    """2xx success; 3xx failure (redirects are never followed); 410 disables the endpoint."""
    if 200 <= status < 300:
        return AttemptResult(ok=True)
    gone = status == 410
    return AttemptResult(
        ok=False,
        error=f"HTTP {status}",
        retry_after=retry_after,
        overloaded=status == 429,
        permanent=gone,
        disable_endpoint=gone,
    )


def retry_after_seconds(value: str, now: datetime) -> float | None:
    """Retry-After (RFC 9110): ASCII digits (seconds) or an HTTP date; anything else is
    ignored. Not str.isdigit(): it accepts "²" and "١٢", which float() then reads or rejects."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)  # a huge value becomes inf: RetryPolicy.max_retry_after caps it
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no claim about the sender's zone (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify_smtp(code: int, message: str) -> AttemptResult:
    """4xx is temporary (retried on the schedule), 5xx a permanent failure (hard bounce)."""
    return AttemptResult(ok=False, error=f"SMTP {code} {message}"[:500], permanent=code >= 500)
