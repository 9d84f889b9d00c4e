"""The assistance report from a seeded history (domain.reporting), every figure worked by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.intake.domain.model import OfferStatus, RequestStatus
from services.intake.domain.reporting import (
    CSV_HEADER,
    AssistanceReport,
    Medians,
    PartnerFigures,
    RequestFacts,
    Window,
    WorkFacts,
    assistance_report,
    csv_text,
    window,
)
from shared.events import FieldError

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
R1, R2, R3, R4, R5 = (uuid4() for _ in range(5))


def request(
    request_id: UUID,
    party: str,
    region: str,
    topics: tuple[str, ...],
    status: RequestStatus,
    *,
    offer: int | None = None,
    match: int | None = None,
    done: int | None = None,
    rating: int | None = None,
    uncovered: tuple[str, ...] = (),
) -> RequestFacts:
    """A request accepted at T; `offer`, `match`, `done`: seconds after that."""

    def after(seconds: int | None) -> datetime | None:
        return None if seconds is None else T + timedelta(seconds=seconds)

    return RequestFacts(
        request_id, party, region, topics, status, T, after(offer), after(match), after(done),
        rating, uncovered,
    )  # fmt: skip


REQUESTS = [
    request(R1, "SEN", "AFR", ("PCB", "WASTE"), "closed", offer=60, match=600, done=3600, rating=4),
    request(R2, "BRA", "GRULAC", ("PCB",), "unmatched", offer=120, uncovered=("PCB",)),
    request(
        R3, "SEN", "AFR", ("DDT", "WASTE"), "matched", offer=180, match=1200, uncovered=("WASTE",)
    ),
    request(R4, "VNM", "APAC", ("PCB",), "waiting"),
    request(R5, "SEN", "AFR", ("PCB",), "closed", offer=30, match=300, done=1800, rating=2),
]


def work(request_id: UUID, partner: str, status: OfferStatus) -> WorkFacts:
    return WorkFacts(request_id, partner, status)


WORK = [
    work(R1, "unido", "completed"),
    work(R1, "brs", "withdrawn"),  # accepted, then given up: counts as accepted, not completed
    work(R2, "undp", "declined"),  # never accepted: not a partner of the report
    work(R3, "unido", "accepted"),  # in progress
    work(R5, "unido", "completed"),
    work(R5, "brs", "completed"),
    work(R5, "brs", "completed"),  # two slots of one request: its rating counts once
]


def test_every_figure_of_a_seeded_history() -> None:
    scope = Window(T, T + timedelta(days=1))
    report = assistance_report(scope, REQUESTS, WORK)

    assert report == AssistanceReport(
        window=scope,
        requests=5,
        by_region={"AFR": 3, "APAC": 1, "GRULAC": 1},
        by_party={"BRA": 1, "SEN": 3, "VNM": 1},
        by_topic={"DDT": 1, "PCB": 4, "WASTE": 2},
        by_status={
            "accepted": 0,
            "matching": 0,
            "waiting": 1,
            "matched": 1,
            "unmatched": 1,
            "completed": 0,
            "closed": 2,
        },
        # First offers after 30, 60, 120, 180 s; matches after 300, 600, 1200; completions after
        # 1800 and 3600 (R4 got none of them: not counted).
        median_seconds=Medians(to_first_offer=90.0, to_match=600.0, to_completion=2700.0),
        partners=[
            # brs: accepted on R1 (withdrawn) and twice on R5, completed both on R5 (rated 2).
            PartnerFigures("brs", 3, 2, 2 / 3, rated_requests=1, mean_rating=2.0),
            # unido: accepted on R1, R3, R5; completed R1 (rated 4) and R5 (rated 2).
            PartnerFigures("unido", 3, 2, 2 / 3, rated_requests=2, mean_rating=3.0),
        ],
        uncovered_topics={"PCB": 1, "WASTE": 1},
    )


def test_an_empty_window_has_zeros_and_no_medians() -> None:
    report = assistance_report(Window(), [], [])
    assert (report.requests, report.by_region, report.partners) == (0, {}, [])
    assert report.median_seconds == Medians(None, None, None)
    assert set(report.by_status.values()) == {0}


def test_the_csv_has_one_figure_a_row_and_nulls_are_empty() -> None:
    scope = Window(T, None)
    report = assistance_report(scope, REQUESTS[3:4], [])  # R4 only: waiting, nothing measured
    rows = list(csv.reader(io.StringIO(csv_text(report))))

    assert tuple(rows[0]) == CSV_HEADER
    body = {(d, k, m): v for d, k, m, v in rows[1:]}
    assert len(body) == len(rows) - 1  # no figure twice
    assert body[("window", "", "from")] == "2026-03-02T08:00:00+00:00"
    assert body[("window", "", "to")] == ""
    assert body[("requests", "", "count")] == "1"
    assert body[("region", "APAC", "requests")] == "1"
    assert body[("party", "VNM", "requests")] == "1"
    assert body[("topic", "PCB", "requests")] == "1"
    assert body[("status", "waiting", "requests")] == "1"
    assert body[("status", "closed", "requests")] == "0"
    assert body[("median_seconds", "", "to_first_offer")] == ""


def test_partner_figures_in_csv_and_a_formula_like_key_is_quoted() -> None:
    facts = [request(R1, "SEN", "AFR", ("PCB",), "closed", offer=10, rating=5)]
    report = assistance_report(Window(), facts, [work(R1, "=cmd", "completed")])
    rows = list(csv.reader(io.StringIO(csv_text(report))))
    assert ["partner", "'=cmd", "completion_rate", "1.0"] in rows
    assert ["partner", "'=cmd", "mean_rating", "5.0"] in rows
    assert ["median_seconds", "", "to_first_offer", "10.0"] in rows


def test_a_window_is_in_utc_and_must_end_after_it_starts() -> None:
    naive = datetime(2026, 1, 1)
    assert window(naive, None) == Window(datetime(2026, 1, 1, tzinfo=UTC), None)
    assert window(None, None) == Window()
    assert window(T, T) == [
        FieldError(field="to", code="not_after_from", message="must be after `from`")
    ]


@pytest.mark.parametrize("status", ["accepted", "started", "completed", "withdrawn"])
def test_every_status_an_accepted_assignment_reaches_counts_as_accepted(
    status: OfferStatus,
) -> None:
    report = assistance_report(Window(), REQUESTS[:1], [work(R1, "p", status)])
    (figures,) = report.partners
    assert figures.accepted == 1 and figures.completed == (status == "completed")
