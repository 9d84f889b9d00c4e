"""The offer saga's use cases in memory (the fake unit of work): offers, answers, expiry,
re-offers. No PostgreSQL, no Kafka; the contract suite keeps the fake honest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.matcher.adapters import reference_data
from services.matcher.domain import MatchPolicy
from services.matcher.handlers import answers, expiry, requests
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from shared.envelope import PoisonRecord
from shared.events import AssignmentResponse, RequestAccepted
from tests.matcher.fakes import MatcherStore, fake_units
from tests.matcher.helpers import Emitted, accepted, answer, emitted, envelope, of_type
from tests.matcher.helpers import open_offers as still_open

TAXONOMY = reference_data.load_taxonomy()
SEED = reference_data.load_seed(TAXONOMY)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Matcher:
    """matcher's use cases over one in-memory store, called as its entry points call them."""

    respond_within: timedelta = timedelta(days=5)
    clock: Clock = field(default_factory=Clock)
    store: MatcherStore = field(default_factory=MatcherStore)
    # Each test its own catalog: its cache is keyed by the registry version of one store.
    catalog: Catalog = field(default_factory=lambda: Catalog(TAXONOMY, SEED))

    max_wait: timedelta = timedelta(days=30)
    policy: MatchPolicy = field(default_factory=MatchPolicy)

    @property
    def matching(self) -> Matching:
        return Matching(self.catalog, self.policy, self.clock, self.respond_within, self.max_wait)

    async def submit(self, request: RequestAccepted) -> None:
        async with fake_units(self.store)() as uow:
            await requests.on_request_accepted(
                uow,
                envelope(request),
                request,
                matching=self.matching,
            )

    async def respond(self, response: AssignmentResponse) -> None:
        async with fake_units(self.store)() as uow:
            await answers.on_assignment_response(
                uow,
                envelope(response),
                response,
                matching=self.matching,
            )

    async def partner_answers(self, partner: str, response: AssignmentResponse) -> None:
        """An answer published on `partner`'s own topic (the consumer names the tenant)."""
        on_its_topic = dataclasses.replace(envelope(response), tenant=partner)
        async with fake_units(self.store)() as uow:
            await answers.on_partner_answer(
                uow,
                on_its_topic,
                response,
                matching=self.matching,
            )

    async def expire(self) -> int:
        return await expiry.expire_due(fake_units(self.store), self.matching)

    def events(self, request: RequestAccepted) -> list[Emitted]:
        return emitted(self.store.outbox, request.request_id)

    def offers(self, request: RequestAccepted) -> list[dict[str, Any]]:
        return of_type(self.events(request), "ta.assignment.offered")


@pytest.fixture
def matcher() -> Matcher:
    return Matcher()


def offered_to(offers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["partner_id"], o["role"]) for o in offers]


async def test_a_request_is_offered_to_a_lead_and_a_support_partner_with_reasons(
    matcher: Matcher,
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)

    offers = matcher.offers(request)
    # UNEP Chemicals and UNIDO tie on everything but headroom: the one with more room supports.
    assert offered_to(offers) in (
        [("scrc-senegal", "lead"), ("unep-chemicals", "support")],
        [("scrc-senegal", "lead"), ("unido", "support")],
    )
    assert "serves SEN directly: +0.20" in offers[0]["reasons"]
    assert "works globally (no regional presence listed): +0.06" in offers[1]["reasons"]
    assert offers[0]["covers_topics"] == ["PCB"]
    assert datetime.fromisoformat(offers[0]["respond_by"]) == matcher.clock.now + timedelta(days=5)


async def test_offers_take_the_partners_capacity_and_a_decline_gives_it_back(
    matcher: Matcher,
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    lead, support = matcher.offers(request)
    partners = matcher.store.partners
    assert partners[lead["partner_id"]].open_assignments == 1

    await matcher.respond(answer(lead, "decline"))
    await matcher.respond(answer(support, "accept"))

    assert partners[lead["partner_id"]].open_assignments == 0
    assert partners[support["partner_id"]].open_assignments == 1  # accepted work stays open


async def test_a_declined_offer_goes_to_the_next_best_partner_not_yet_asked(
    matcher: Matcher,
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    lead = matcher.offers(request)[0]

    await matcher.respond(answer(lead, "decline", "no staff this quarter"))

    declined = of_type(matcher.events(request), "ta.assignment.declined")
    assert [(d["partner_id"], d["reason"]) for d in declined] == [
        ("scrc-senegal", "no staff this quarter")
    ]
    offers = matcher.offers(request)
    assert len(offers) == 3
    replacement = offers[2]
    assert replacement["role"] == "lead"
    assert replacement["partner_id"] not in {offers[0]["partner_id"], offers[1]["partner_id"]}
    assert "PCB" in replacement["covers_topics"]


async def test_an_offer_nobody_answers_expires_and_the_slot_is_re_offered() -> None:
    matcher = Matcher(respond_within=timedelta(seconds=1))
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)

    assert await matcher.expire() == 0  # nothing due yet
    matcher.clock.now += timedelta(seconds=2)
    assert await matcher.expire() == 1

    events = matcher.events(request)
    first = {o["partner_id"] for o in of_type(events, "ta.assignment.offered")[:2]}
    expired = of_type(events, "ta.assignment.expired")
    assert {e["partner_id"] for e in expired} == first
    assert all(e["reason"].startswith("no answer by ") for e in expired)
    reoffered = still_open(events)
    assert sorted(o["role"] for o in reoffered) == ["lead", "support"]
    assert not {o["partner_id"] for o in reoffered} & first


async def test_the_request_is_matched_when_every_slot_is_accepted(matcher: Matcher) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    offers = matcher.offers(request)
    for offer in offers:
        await matcher.respond(answer(offer, "accept", "glad to"))

    events = matcher.events(request)
    assert len(of_type(events, "ta.assignment.accepted")) == 2
    assert of_type(events, "ta.request.matched") == [
        {
            "request_id": str(request.request_id),
            "partners": [o["partner_id"] for o in offers],
            "uncovered_topics": [],
        }
    ]
    assert matcher.store.requests[request.request_id].status == "matched"


async def test_when_candidates_run_out_the_request_ends_unmatched_with_its_topics(
    matcher: Matcher,
) -> None:
    # only UNEP Chemicals and the World Bank (obsolete pesticide stockpiles) cover it there
    request = accepted("CHN", ("PEST",), ("training",), ("zh",))
    await matcher.submit(request)
    offers = matcher.offers(request)
    assert offered_to(offers) == [("unep-chemicals", "lead"), ("world-bank", "support")]

    for offer in offers:
        await matcher.respond(answer(offer, "decline"))

    events = matcher.events(request)
    assert of_type(events, "ta.request.unmatched") == [
        {"request_id": str(request.request_id), "partners": [], "uncovered_topics": ["PEST"]}
    ]
    assert events[-1].type == "ta.request.unmatched"


async def test_a_request_nobody_can_serve_ends_unmatched_at_once(matcher: Matcher) -> None:
    request = accepted("SEN", ("MERCURY",))  # a code no partner in the registry covers
    await matcher.submit(request)

    events = matcher.events(request)
    assert [e.type for e in events] == ["ta.request.unmatched"]
    assert events[0].data["uncovered_topics"] == ["MERCURY"]


async def test_answers_to_unknown_or_closed_offers_are_recorded_and_change_nothing(
    matcher: Matcher,
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    lead, support = matcher.offers(request)
    unknown = answer({**lead, "assignment_id": "00000000-0000-4000-8000-000000000000"}, "accept")

    await matcher.respond(answer(lead, "accept"))
    before = matcher.events(request)
    for late in (
        answer(lead, "accept"),  # the same answer again
        answer(lead, "decline"),  # contradicts the acceptance
        answer({**support, "partner_id": "someone-else"}, "accept"),  # not its offer
        unknown,
    ):
        await matcher.respond(late)

    assert matcher.events(request) == before
    assert [r.verdict for r in matcher.store.responses.values()] == [
        "applied",
        "repeated",
        "contradicts",
        "wrong_partner",
        "unknown_assignment",
    ]


async def test_a_second_copy_of_a_request_offers_nothing_more(matcher: Matcher) -> None:
    request = accepted("MLI", ("PCB", "WASTE"), ("training",), ("fr",))
    await matcher.submit(request)
    await matcher.submit(request)  # same request id, another ce_id

    offers = matcher.offers(request)
    assert len(offers) == len({o["partner_id"] for o in offers}) >= 2
    assert len(matcher.store.offers) == len(offers)


async def test_a_full_partner_is_left_out_and_the_plan_made_without_it(matcher: Matcher) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    async with fake_units(matcher.store)() as uow:
        await matcher.catalog.current(uow.partners)  # seeded, as on the service's start
    senegal = matcher.store.partners["scrc-senegal"]
    senegal.open_assignments = senegal.spec.capacity

    await matcher.submit(request)

    offered = {o["partner_id"] for o in matcher.offers(request)}
    assert "scrc-senegal" not in offered and len(offered) == 2
    assert senegal.open_assignments == senegal.spec.capacity  # never exceeded


async def test_the_real_seed_is_loaded_once_with_every_centre(matcher: Matcher) -> None:
    async with fake_units(matcher.store)() as uow:
        registry = await matcher.catalog.current(uow.partners)
        again = await matcher.catalog.current(uow.partners)
    assert again is registry  # same version: the index is not rebuilt
    kinds = [p.spec.kind.value for p in registry.partners]
    assert kinds.count("regional_centre") == 16


async def test_a_partner_answers_its_own_offer_on_its_own_topic(matcher: Matcher) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    lead = matcher.offers(request)[0]

    await matcher.partner_answers(lead["partner_id"], answer(lead, "accept"))

    accepted_ = of_type(matcher.events(request), "ta.assignment.accepted")
    assert [a["partner_id"] for a in accepted_] == [lead["partner_id"]]


async def test_an_answer_for_another_partner_on_a_partner_topic_is_refused_whole(
    matcher: Matcher,
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await matcher.submit(request)
    lead, support = matcher.offers(request)
    before = matcher.events(request)

    with pytest.raises(PoisonRecord) as naming_another:
        await matcher.partner_answers(support["partner_id"], answer(lead, "decline"))
    with pytest.raises(PoisonRecord) as someone_elses:
        theirs = answer({**lead, "partner_id": support["partner_id"]}, "decline")
        await matcher.partner_answers(support["partner_id"], theirs)

    assert naming_another.value.reason == "identity_mismatch"
    assert someone_elses.value.reason == "not_your_assignment"
    assert matcher.events(request) == before and not matcher.store.responses
    assert matcher.store.rollbacks == 2
