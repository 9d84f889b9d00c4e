"""The assistance report (brief §7.2): what happened to the requests accepted in a window.

Pure: the repository hands over plain rows (a few columns per request and per accepted or
offered assignment), `assistance_report` counts and takes medians, `csv_rows` flattens the result.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, get_args
from uuid import UUID

from services.intake.domain.model import OfferStatus, RequestStatus
from shared.events import FieldError

# Statuses of an assignment its partner accepted at some point: what a completion rate divides by.
WAS_ACCEPTED: Final[frozenset[OfferStatus]] = frozenset(
    {"accepted", "started", "completed", "withdrawn"}
)


@dataclass(frozen=True)
class Window:
    """Requests accepted from `start` (inclusive) to `end` (exclusive); None: no bound."""

    start: datetime | None = None
    end: datetime | None = None


def window(start: datetime | None, end: datetime | None) -> Window | list[FieldError]:
    """The window asked for, in UTC (a time without an offset is UTC), or why it is none."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        return [FieldError(field="to", code="not_after_from", message="must be after `from`")]
    return Window(start, end)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RequestFacts:
    """One accepted request, as far as the report is concerned."""

    request_id: UUID
    party: str
    region: str
    topics: tuple[str, ...]
    status: RequestStatus
    accepted_at: datetime
    first_offer_at: datetime | None
    matched_at: datetime | None
    completed_at: datetime | None
    rating: int | None  # the submitter's, once the request was closed with feedback
    uncovered_topics: tuple[str, ...]  # as its latest settlement (matched or unmatched) said


@dataclass(frozen=True)
class WorkFacts:
    """One assignment of one of those requests."""

    request_id: UUID
    partner_id: str
    status: OfferStatus


@dataclass(frozen=True)
class PartnerFigures:
    partner_id: str
    accepted: int  # assignments it accepted (in progress, completed or withdrawn since)
    completed: int
    completion_rate: float  # completed / accepted
    rated_requests: int  # closed requests with a rating on which it completed work
    mean_rating: float | None


@dataclass(frozen=True)
class Medians:
    """Seconds from acceptance; None when no request of the window got that far."""

    to_first_offer: float | None
    to_match: float | None
    to_completion: float | None


@dataclass(frozen=True)
class AssistanceReport:
    window: Window
    requests: int
    by_region: dict[str, int]
    by_party: dict[str, int]
    by_topic: dict[str, int]  # a request counts once under each of its topics
    by_status: dict[str, int]  # every status, 0 included
    median_seconds: Medians
    partners: list[PartnerFigures]  # every partner that accepted work, by id
    uncovered_topics: dict[str, int]  # requests that left each topic uncovered


def assistance_report(
    scope: Window, requests: Iterable[RequestFacts], work: Iterable[WorkFacts]
) -> AssistanceReport:
    requests = list(requests)
    ratings = {r.request_id: r.rating for r in requests if r.rating is not None}
    return AssistanceReport(
        window=scope,
        requests=len(requests),
        by_region=_counted(r.region for r in requests),
        by_party=_counted(r.party for r in requests),
        by_topic=_counted(t for r in requests for t in set(r.topics)),
        by_status={s: 0 for s in get_args(RequestStatus)} | _counted(r.status for r in requests),
        median_seconds=Medians(
            to_first_offer=_median(_waits(requests, lambda r: r.first_offer_at)),
            to_match=_median(_waits(requests, lambda r: r.matched_at)),
            to_completion=_median(_waits(requests, lambda r: r.completed_at)),
        ),
        partners=_partners(work, ratings),
        uncovered_topics=_counted(t for r in requests for t in set(r.uncovered_topics)),
    )


def _counted(keys: Iterable[str]) -> dict[str, int]:
    return dict(sorted(Counter(keys).items()))


def _waits(
    requests: list[RequestFacts], reached: Callable[[RequestFacts], datetime | None]
) -> Iterator[float]:
    for request in requests:
        at = reached(request)
        if at is not None:
            # Never below zero: the later time is the matcher's clock, the earlier intake's.
            yield max(0.0, (at - request.accepted_at).total_seconds())


def _median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def _partners(work: Iterable[WorkFacts], ratings: dict[UUID, int]) -> list[PartnerFigures]:
    accepted: Counter[str] = Counter()
    completed: Counter[str] = Counter()
    completed_on: defaultdict[str, set[UUID]] = defaultdict(set)
    for item in work:
        if item.status in WAS_ACCEPTED:
            accepted[item.partner_id] += 1
        if item.status == "completed":
            completed[item.partner_id] += 1
            completed_on[item.partner_id].add(item.request_id)
    return [
        _figures(partner, accepted[partner], completed[partner], completed_on[partner], ratings)
        for partner in sorted(accepted)
    ]


def _figures(
    partner: str, accepted: int, completed: int, on: set[UUID], ratings: dict[UUID, int]
) -> PartnerFigures:
    rated = [ratings[r] for r in on if r in ratings]  # each request once, however many slots
    return PartnerFigures(
        partner_id=partner,
        accepted=accepted,
        completed=completed,
        completion_rate=completed / accepted,
        rated_requests=len(rated),
        mean_rating=statistics.fmean(rated) if rated else None,
    )


CSV_HEADER: Final = ("dimension", "key", "metric", "value")


def csv_rows(report: AssistanceReport) -> Iterator[tuple[str, str, str, str]]:
    """The report flattened, one figure a row: (dimension, key, metric, value); an empty value
    is a null (no data), an empty key a figure of the whole window."""
    scope = report.window
    yield "window", "", "from", scope.start.isoformat() if scope.start else ""
    yield "window", "", "to", scope.end.isoformat() if scope.end else ""
    yield "requests", "", "count", str(report.requests)
    for dimension, counts in (
        ("region", report.by_region),
        ("party", report.by_party),
        ("topic", report.by_topic),
        ("status", report.by_status),
    ):
        yield from ((dimension, key, "requests", str(n)) for key, n in counts.items())
    medians = report.median_seconds
    yield "median_seconds", "", "to_first_offer", _number(medians.to_first_offer)
    yield "median_seconds", "", "to_match", _number(medians.to_match)
    yield "median_seconds", "", "to_completion", _number(medians.to_completion)
    for p in report.partners:
        yield "partner", p.partner_id, "accepted", str(p.accepted)
        yield "partner", p.partner_id, "completed", str(p.completed)
        yield "partner", p.partner_id, "completion_rate", _number(p.completion_rate)
        yield "partner", p.partner_id, "rated_requests", str(p.rated_requests)
        yield "partner", p.partner_id, "mean_rating", _number(p.mean_rating)
    for topic, n in report.uncovered_topics.items():
        yield "uncovered_topic", topic, "requests", str(n)


def _number(value: float | None) -> str:
    return "" if value is None else str(round(value, 4))


def csv_text(report: AssistanceReport) -> str:
    """`csv_rows` under `CSV_HEADER`, as CSV (RFC 4180 line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    writer.writerows(tuple(_inert(cell) for cell in row) for row in csv_rows(report))
    return out.getvalue()


def _inert(cell: str) -> str:
    """A key a spreadsheet would run as a formula (a partner id is any text) is quoted."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@") else cell
