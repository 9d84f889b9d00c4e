"""matcher's business metrics (Prometheus, served at /metrics): the offer saga's facts, which
the use cases count once their unit of work has committed (`uow.after_commit`), and the
requests waiting for room, sampled.

The label values are the domain's own words: role lead|support; an offer's outcome is
offered (made), then accepted, declined or expired, and accepted work may be withdrawn.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROLES = ("lead", "support")
OUTCOMES = ("offered", "accepted", "declined", "expired", "withdrawn")

# From an offer made as the request arrives (tens of ms) to a request that waited a day for room.
TIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 43200, 86400)

TIME_TO_FIRST_OFFER = Histogram(
    "stax_time_to_first_offer_seconds",
    "From a request's acceptance by intake (its submission) to its first offer",
    buckets=TIME_BUCKETS,
)
TIME_TO_MATCH = Histogram(
    "stax_time_to_match_seconds",
    "From a request's acceptance by intake (its submission) to its lead partner's acceptance",
    buckets=TIME_BUCKETS,
)
OFFERS = Counter(
    "stax_offers_total", "Offers made to partners, and how they ended, by role", ["role", "outcome"]
)
WAITING = Gauge("stax_waiting_requests", "Requests waiting for a partner with room, when sampled")

for _role in ROLES:  # every series from the start, so a rate over a new one is not missing
    for _outcome in OUTCOMES:
        OFFERS.labels(_role, _outcome)


def offer_made(role: str) -> None:
    OFFERS.labels(role, "offered").inc()


def offer_closed(role: str, outcome: str) -> None:
    OFFERS.labels(role, outcome).inc()


def first_offer_after(seconds: float) -> None:
    TIME_TO_FIRST_OFFER.observe(seconds)


def matched_after(seconds: float) -> None:
    TIME_TO_MATCH.observe(seconds)


def waiting_now(requests: int) -> None:
    WAITING.set(requests)
