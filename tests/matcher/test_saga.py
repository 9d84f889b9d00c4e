"""The offer saga's use cases on the real PostgreSQL: offers, answers, expiry, re-offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.matcher import handlers, worker
from services.matcher.catalog import Catalog
from shared.events import AssignmentResponse, RequestAccepted
from shared.outbox import Outbox
from tests.matcher.helpers import accepted, answer, emitted, envelope, of_type, open_offers

CATALOG = Catalog.from_data_files()

# Rankings are asserted exactly: start each test from unloaded partners.
pytestmark = pytest.mark.usefixtures("idle_partners")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def make_deps(clock: Clock, respond_within: timedelta = timedelta(days=5)) -> handlers.MatcherDeps:
    return handlers.MatcherDeps(
        outbox=Outbox("matcher"), clock=clock, respond_within=respond_within, catalog=CATALOG
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock) -> handlers.MatcherDeps:
    return make_deps(clock)


async def submit(pool: asyncpg.Pool, deps: handlers.MatcherDeps, request: RequestAccepted) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await handlers.on_request_accepted(deps, conn, envelope(request), request)


async def respond(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps, response: AssignmentResponse
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await handlers.on_assignment_response(deps, conn, envelope(response), response)


def offered_to(offers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["partner_id"], o["role"]) for o in offers]


async def test_a_request_is_offered_to_a_lead_and_a_support_partner_with_reasons(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps, clock: Clock
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await submit(pool, deps, request)

    offers = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")
    # UNEP Chemicals and UNIDO tie on everything but headroom: the one with more room supports.
    assert offered_to(offers) in (
        [("scrc-senegal", "lead"), ("unep-chemicals", "support")],
        [("scrc-senegal", "lead"), ("unido", "support")],
    )
    assert "serves SEN directly: +0.20" in offers[0]["reasons"]
    assert "works globally (no regional presence listed): +0.06" in offers[1]["reasons"]
    assert offers[0]["covers_topics"] == ["PCB"]
    assert datetime.fromisoformat(offers[0]["respond_by"]) == clock.now + timedelta(days=5)


async def test_a_declined_offer_goes_to_the_next_best_partner_not_yet_asked(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await submit(pool, deps, request)
    lead = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")[0]

    await respond(pool, deps, answer(lead, "decline", "no staff this quarter"))

    events = await emitted(pool, request.request_id)
    declined = of_type(events, "ta.assignment.declined")
    assert [(d["partner_id"], d["reason"]) for d in declined] == [
        ("scrc-senegal", "no staff this quarter")
    ]
    offers = of_type(events, "ta.assignment.offered")
    assert len(offers) == 3
    replacement = offers[2]
    assert replacement["role"] == "lead"
    assert replacement["partner_id"] not in {offers[0]["partner_id"], offers[1]["partner_id"]}
    assert "PCB" in replacement["covers_topics"]


async def test_an_offer_nobody_answers_expires_and_the_slot_is_re_offered(
    pool: asyncpg.Pool, clock: Clock
) -> None:
    deps = make_deps(clock, respond_within=timedelta(seconds=1))
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await submit(pool, deps, request)

    clock.now += timedelta(seconds=2)
    await worker.expire_due(deps, pool)

    events = await emitted(pool, request.request_id)
    first = {o["partner_id"] for o in of_type(events, "ta.assignment.offered")[:2]}
    expired = of_type(events, "ta.assignment.expired")
    assert {e["partner_id"] for e in expired} == first
    assert all(e["reason"].startswith("no answer by ") for e in expired)
    reoffered = open_offers(events)
    assert sorted(o["role"] for o in reoffered) == ["lead", "support"]
    assert not {o["partner_id"] for o in reoffered} & first


async def test_the_request_is_matched_when_every_slot_is_accepted(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await submit(pool, deps, request)
    offers = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")
    for offer in offers:
        await respond(pool, deps, answer(offer, "accept", "glad to"))

    events = await emitted(pool, request.request_id)
    assert len(of_type(events, "ta.assignment.accepted")) == 2
    assert of_type(events, "ta.request.matched") == [
        {
            "request_id": str(request.request_id),
            "partners": [o["partner_id"] for o in offers],
            "uncovered_topics": [],
        }
    ]


async def test_when_candidates_run_out_the_request_ends_unmatched_with_its_topics(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("CHN", ("PEST",), ("training",), ("zh",))  # only UNEP covers it there
    await submit(pool, deps, request)
    (only,) = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")
    assert only["partner_id"] == "unep-chemicals"

    await respond(pool, deps, answer(only, "decline"))

    events = await emitted(pool, request.request_id)
    assert of_type(events, "ta.request.unmatched") == [
        {"request_id": str(request.request_id), "partners": [], "uncovered_topics": ["PEST"]}
    ]
    assert events[-1].type == "ta.request.unmatched"


async def test_a_request_nobody_can_serve_ends_unmatched_at_once(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("SEN", ("MERCURY",))  # a code no partner in the registry covers
    await submit(pool, deps, request)

    events = await emitted(pool, request.request_id)
    assert [e.type for e in events] == ["ta.request.unmatched"]
    assert events[0].data["uncovered_topics"] == ["MERCURY"]


async def test_answers_to_unknown_or_closed_offers_are_recorded_and_change_nothing(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await submit(pool, deps, request)
    lead, support = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")
    unknown = answer({**lead, "assignment_id": "00000000-0000-4000-8000-000000000000"}, "accept")

    await respond(pool, deps, answer(lead, "accept"))
    before = await emitted(pool, request.request_id)
    for late in (
        answer(lead, "accept"),  # the same answer again
        answer(lead, "decline"),  # contradicts the acceptance
        answer({**support, "partner_id": "someone-else"}, "accept"),  # not its offer
        unknown,
    ):
        await respond(pool, deps, late)

    assert await emitted(pool, request.request_id) == before
    verdicts = await pool.fetch(
        "SELECT verdict FROM matcher.responses WHERE assignment_id = ANY($1::uuid[]) "
        "ORDER BY received_at",
        [lead["assignment_id"], support["assignment_id"], unknown.assignment_id],
    )
    assert [v["verdict"] for v in verdicts] == [
        "applied",
        "repeated",
        "contradicts",
        "wrong_partner",
        "unknown_assignment",
    ]


async def test_a_second_copy_of_a_request_offers_nothing_more(
    pool: asyncpg.Pool, deps: handlers.MatcherDeps
) -> None:
    request = accepted("MLI", ("PCB", "WASTE"), ("training",), ("fr",))
    await submit(pool, deps, request)
    await submit(pool, deps, request)  # same request id, another ce_id

    offers = of_type(await emitted(pool, request.request_id), "ta.assignment.offered")
    assert len(offers) == len({o["partner_id"] for o in offers}) >= 2
    live = await pool.fetchval(
        "SELECT count(*) FROM matcher.assignments WHERE request_id = $1", request.request_id
    )
    assert live == len(offers)
