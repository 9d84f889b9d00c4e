"""GET /v1/reports/assistance on the real PostgreSQL: a history applied through intake's own
consumer routes, then reported as JSON and as CSV with the figures that history makes."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import randrange
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.intake.consumers import READ_MODEL
from services.intake.domain.model import Note, TimelineEntry
from services.intake.unit_of_work import pg_units
from shared.envelope import as_envelope, build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentOffered,
    AssignmentOutcome,
    AssignmentWithdrawn,
    Eligibility,
    Event,
    RequestAccepted,
    RequestClosed,
    RequestCompleted,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
    Role,
)
from tests.intake.conftest import MakeKey
from tests.intake.samples import submission

ELIGIBLE = Eligibility(developing=True, economy_in_transition=False, ldc=False, sids=False)
_ROUTES = {t: r for _, (_, routes) in READ_MODEL.items() for t, r in routes.items()}


@dataclass
class History:
    """Requests accepted on one day nobody else uses (the database is the session's)."""

    pool: asyncpg.Pool
    day: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, time(8, 0), UTC)

    async def accepted(self, party: str, region: str, topics: list[str], at: datetime) -> UUID:
        event = RequestAccepted(
            **submission(f"report-{uuid4()}", party=party, topics=topics),
            request_id=uuid4(),
            submitter=f"report-{uuid4()}",
            region=region,
            eligibility=ELIGIBLE,
            accepted_at=at,
        )
        note = Note(uuid4(), event.request_id, TimelineEntry(at, event.ce_type, None, "accepted"))
        async with pg_units(self.pool)() as uow:
            assert await uow.requests.add(event, "h", note=note, outcomes_topic=None)
        return event.request_id

    async def heard(self, request_id: UUID, seconds: int, event: Event) -> None:
        """`event`, stamped by the matcher `seconds` after 08:00, through its consumer route."""
        record = build_record(
            event,
            source="/stax/matcher",
            subject=str(request_id),
            time=self.start + timedelta(seconds=seconds),
        )
        envelope = as_envelope(record)
        route = _ROUTES[envelope.type]
        async with pg_units(self.pool)() as uow:
            await route.apply(uow, envelope, route.model.model_validate(envelope.data))


def offer(request_id: UUID, partner: str) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner,
        partner_name=partner.upper(),
        role=Role.LEAD,
        score=0.7,
        reasons=["covers it"],
        covers_topics=["PCB"],
        respond_by=datetime(9999, 1, 1, tzinfo=UTC),
    )


def answer(kind: type[AssignmentOutcome], offered: AssignmentOffered) -> AssignmentOutcome:
    return kind(
        assignment_id=offered.assignment_id,
        request_id=offered.request_id,
        partner_id=offered.partner_id,
    )


@pytest.fixture
async def history(pool: asyncpg.Pool) -> History:
    """Three requests accepted at 08:00 on a day of their own, one at midnight after it, and
    what the matcher said about each (seconds after 08:00)."""
    # Partner ids of this history only: the report counts partners over its window alone.
    made = History(pool, date(3000, 1, 1) + timedelta(days=randrange(300_000)))
    sen = await made.accepted("SEN", "AFR", ["PCB", "WASTE"], made.start)
    bra = await made.accepted("BRA", "GRULAC", ["PCB"], made.start)
    vnm = await made.accepted("VNM", "APAC", ["DDT"], made.start)
    after = await made.accepted("SEN", "AFR", ["PCB"], made.start + timedelta(hours=16))
    unido, brs = offer(sen, "unido"), offer(sen, "brs")
    undp, unido_vnm, late = offer(bra, "undp"), offer(vnm, "unido"), offer(after, "gef")
    for request_id, seconds, event in [
        # SEN: both offers taken, matched, both completed, closed with a 4.
        (sen, 60, unido),
        (sen, 60, brs),
        (sen, 120, answer(AssignmentAccepted, unido)),
        (sen, 130, answer(AssignmentAccepted, brs)),
        (sen, 600, RequestMatched(request_id=sen, partners=["unido", "brs"], uncovered_topics=[])),
        (sen, 3000, answer(AssignmentCompleted, unido)),
        (sen, 3500, answer(AssignmentCompleted, brs)),
        (sen, 3601, RequestCompleted(request_id=sen, partners=["unido", "brs"])),
        (sen, 4000, RequestClosed(request_id=sen, closed_by="submitter", rating=4)),
        # BRA: declined, nobody else: PCB left uncovered.
        (bra, 120, undp),
        (bra, 200, answer(AssignmentDeclined, undp)),
        (bra, 300, RequestUnmatched(request_id=bra, partners=[], uncovered_topics=["PCB"])),
        # VNM: waited, matched, then its partner withdrew and it waits again.
        (vnm, 50, RequestWaiting(request_id=vnm, partners=["unido"], topics=["DDT"], reason="x")),
        (vnm, 900, unido_vnm),
        (vnm, 1000, answer(AssignmentAccepted, unido_vnm)),
        (vnm, 1200, RequestMatched(request_id=vnm, partners=["unido"], uncovered_topics=[])),
        (vnm, 1500, answer(AssignmentWithdrawn, unido_vnm)),
        (vnm, 1600, RequestWaiting(request_id=vnm, partners=["unido"], topics=["DDT"], reason="x")),
        # Accepted at the window's end (excluded): its partner is nowhere in the report.
        (after, 60_000, late),
        (after, 60_100, answer(AssignmentAccepted, late)),
    ]:
        await made.heard(request_id, seconds, event)
    return made


def expected(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat().replace("+00:00", "Z")

    return {
        "window": {"from": iso(start), "to": iso(end)},
        "requests": {
            "total": 3,
            "by_region": {"AFR": 1, "APAC": 1, "GRULAC": 1},
            "by_party": {"BRA": 1, "SEN": 1, "VNM": 1},
            "by_topic": {"DDT": 1, "PCB": 2, "WASTE": 1},
            "by_status": {
                "accepted": 0,
                "matching": 0,
                "waiting": 1,
                "matched": 0,
                "unmatched": 1,
                "completed": 0,
                "closed": 1,
            },
        },
        # First offers after 60, 120 and 900 s; matches after 600 and 1200; one completion.
        "median_seconds": {"to_first_offer": 120.0, "to_match": 900.0, "to_completion": 3601.0},
        "partners": [
            {
                "partner_id": "brs",
                "accepted": 1,
                "completed": 1,
                "completion_rate": 1.0,
                "rated_requests": 1,
                "mean_rating": 4.0,
            },
            {  # completed SEN's work, withdrew from VNM's
                "partner_id": "unido",
                "accepted": 2,
                "completed": 1,
                "completion_rate": 0.5,
                "rated_requests": 1,
                "mean_rating": 4.0,
            },
        ],
        "uncovered_topics": {"PCB": 1},
    }


async def test_an_operator_gets_the_figures_of_the_history_as_json_and_as_csv(
    client: httpx.AsyncClient, make_key: MakeKey, history: History
) -> None:
    _, operator = await make_key("operator")
    day, start = history.day, history.start
    midnight = datetime.combine(day + timedelta(days=1), time(0), UTC)

    by_dates = await client.get(
        "/v1/reports/assistance",
        params={"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()},
        headers=operator,
    )
    assert by_dates.status_code == 200, by_dates.text
    assert by_dates.json() == expected(datetime.combine(day, time(0), UTC), midnight)

    as_csv = await client.get(
        "/v1/reports/assistance",
        params={"from": start.isoformat(), "to": midnight.isoformat(), "format": "csv"},
        headers=operator,
    )
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert rows[0] == ["dimension", "key", "metric", "value"]
    assert set(map(tuple, rows[1:])) == _csv_of(expected(start, midnight))


def _csv_of(report: dict[str, Any]) -> set[tuple[str, ...]]:
    """The rows the JSON report makes in the documented layout."""
    rows: set[tuple[str, ...]] = {
        ("window", "", "from", report["window"]["from"].replace("Z", "+00:00")),
        ("window", "", "to", report["window"]["to"].replace("Z", "+00:00")),
        ("requests", "", "count", str(report["requests"]["total"])),
    }
    for dimension in ("region", "party", "topic", "status"):
        counts = report["requests"][f"by_{dimension}"]
        rows |= {(dimension, k, "requests", str(n)) for k, n in counts.items()}
    rows |= {("median_seconds", "", k, str(v)) for k, v in report["median_seconds"].items()}
    for partner in report["partners"]:
        figures = {k: v for k, v in partner.items() if k != "partner_id"}
        rows |= {("partner", partner["partner_id"], k, str(v)) for k, v in figures.items()}
    rows |= {
        ("uncovered_topic", k, "requests", str(n)) for k, n in report["uncovered_topics"].items()
    }
    return rows


async def test_only_an_operator_may_read_the_report(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    _, submitter = await make_key("submitter")
    _, partner = await make_key("partner", partner_id=f"p-{unique}")
    url = "/v1/reports/assistance"

    assert (await client.get(url)).status_code == 401
    for headers in (submitter, partner):
        refused = await client.get(url, headers=headers)
        assert refused.status_code == 403, refused.text
        assert refused.json()["errors"][0]["code"] == "forbidden"


async def test_a_bad_window_is_a_422_in_the_one_error_body(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    _, operator = await make_key("operator")
    url = "/v1/reports/assistance"

    not_a_date = await client.get(url, params={"from": "last tuesday"}, headers=operator)
    backwards = await client.get(
        url, params={"from": "2026-02-01", "to": "2026-01-01"}, headers=operator
    )
    no_such_format = await client.get(url, params={"format": "xlsx"}, headers=operator)

    assert not_a_date.status_code == 422, not_a_date.text
    assert [e["field"] for e in not_a_date.json()["errors"]] == ["from"]
    assert backwards.status_code == 422, backwards.text
    assert backwards.json() == {
        "errors": [{"field": "to", "code": "not_after_from", "message": "must be after `from`"}]
    }
    assert no_such_format.status_code == 422
    assert no_such_format.json()["errors"][0]["field"] == "format"
