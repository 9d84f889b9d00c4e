"""What the operator console shows on its first page, computed from the report's facts: the
requests by status and how long they waited for a first offer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from services.intake.domain.model import RequestStatus
from services.intake.domain.reporting import RequestFacts

STATUSES: tuple[RequestStatus, ...] = (
    "accepted",
    "matching",
    "waiting",
    "matched",
    "unmatched",
    "completed",
    "closed",
)
# Upper bounds of the time-to-first-offer bars, in seconds, with their labels: a wide log scale,
# because a request offered at once and one that waited a day for a partner both happen.
BUCKETS: tuple[tuple[float, str], ...] = (
    (1, "< 1 s"),
    (5, "1–5 s"),
    (30, "5–30 s"),
    (60, "30 s–1 min"),
    (300, "1–5 min"),
    (3600, "5 min–1 h"),
    (86400, "1 h–1 d"),
    (float("inf"), "≥ 1 d"),
)
LISTED = 200  # requests shown in one list, newest first


@dataclass(frozen=True)
class Overview:
    since: datetime
    total: int
    by_status: dict[RequestStatus, int]
    first_offer: list[tuple[str, int]]  # (bucket label, requests)
    median_first_offer_seconds: float | None
    never_offered: int


def overview(facts: list[RequestFacts], since: datetime) -> Overview:
    counts = Counter(f.status for f in facts)
    waits = [
        (f.first_offer_at - f.accepted_at).total_seconds()
        for f in facts
        if f.first_offer_at is not None
    ]
    return Overview(
        since=since,
        total=len(facts),
        by_status={status: counts.get(status, 0) for status in STATUSES},
        first_offer=_histogram(waits),
        median_first_offer_seconds=median(waits) if waits else None,
        never_offered=len(facts) - len(waits),
    )


def _histogram(seconds: list[float]) -> list[tuple[str, int]]:
    bars = [0] * len(BUCKETS)
    for wait in seconds:
        bars[next(i for i, (bound, _) in enumerate(BUCKETS) if wait < bound)] += 1
    return [(label, n) for (_, label), n in zip(BUCKETS, bars, strict=True)]


def newest(facts: list[RequestFacts], status: RequestStatus | None) -> list[RequestFacts]:
    """The requests of one status (or all), newest first, at most LISTED."""
    chosen = [f for f in facts if status is None or f.status == status]
    return sorted(chosen, key=lambda f: f.accepted_at, reverse=True)[:LISTED]


def window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
