"""The lifecycle after acceptance, in memory (brief §7.2): start, complete, withdraw; capacity
freed at once; requests waiting for capacity and served when it frees; closing with feedback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from pydantic import ValidationError

from services.matcher.domain import PartnerPatch
from services.matcher.handlers import partners, requests, waiting
from shared.envelope import PoisonRecord
from shared.events import AssignmentResponse, RequestAccepted, RequestClosing, Urgency
from tests.matcher.fakes import fake_units
from tests.matcher.helpers import accepted, answer, envelope, of_type
from tests.matcher.test_handlers import Matcher

PCB_IN_SENEGAL = ("SEN", ("PCB",), ("training",), ("fr",))


@pytest.fixture
def matcher() -> Matcher:
    return Matcher()


def completion(offer: dict[str, Any], outcome: str = "done") -> AssignmentResponse:
    return answer(
        offer, "complete", outcome=outcome, deliverables=["https://example.org/report.pdf"]
    )


async def matched(matcher: Matcher, request: RequestAccepted) -> list[dict[str, Any]]:
    await matcher.submit(request)
    offers = matcher.offers(request)
    for offer in offers:
        await matcher.respond(answer(offer, "accept"))
    assert matcher.store.requests[request.request_id].status == "matched"
    return offers


async def fill_every_partner(matcher: Matcher) -> None:
    async with fake_units(matcher.store)() as uow:
        await matcher.catalog.ensure_seeded(uow.partners)
    for partner in matcher.store.partners.values():
        partner.open_assignments = partner.spec.capacity


async def close(matcher: Matcher, request: RequestAccepted, rating: int | None = 4) -> None:
    closing = RequestClosing(
        request_id=request.request_id, closed_by="submitter", rating=rating, comment="thanks"
    )
    async with fake_units(matcher.store)() as uow:
        await requests.on_request_closing(uow, envelope(closing), closing)


async def test_completion_frees_capacity_at_once_and_the_last_one_completes_the_request(
    matcher: Matcher,
) -> None:
    request = accepted(*PCB_IN_SENEGAL)
    lead, support = await matched(matcher, request)
    partners = matcher.store.partners
    assert partners[lead["partner_id"]].open_assignments == 1

    await matcher.respond(answer(lead, "start"))
    await matcher.respond(completion(lead, "trained 30 customs officers"))

    assert partners[lead["partner_id"]].open_assignments == 0
    events = matcher.events(request)
    assert [e["partner_id"] for e in of_type(events, "ta.assignment.started")] == [
        lead["partner_id"]
    ]
    (done,) = of_type(events, "ta.assignment.completed")
    assert done["outcome"] == "trained 30 customs officers"
    assert done["deliverables"] == ["https://example.org/report.pdf"]
    assert of_type(events, "ta.request.completed") == []  # the support partner still works

    await matcher.respond(completion(support))
    assert of_type(matcher.events(request), "ta.request.completed") == [
        {
            "request_id": str(request.request_id),
            "partners": [lead["partner_id"], support["partner_id"]],
        }
    ]
    assert matcher.store.requests[request.request_id].status == "completed"


async def test_completing_twice_changes_nothing_and_completing_an_offer_contradicts(
    matcher: Matcher,
) -> None:
    request = accepted(*PCB_IN_SENEGAL)
    await matcher.submit(request)
    lead, _support = matcher.offers(request)
    await matcher.respond(completion(lead))  # not accepted yet: contradicts, nothing happens
    assert of_type(matcher.events(request), "ta.assignment.completed") == []

    await matcher.respond(answer(lead, "accept"))
    await matcher.respond(completion(lead))
    await matcher.respond(completion(lead))
    assert len(of_type(matcher.events(request), "ta.assignment.completed")) == 1
    assert matcher.store.partners[lead["partner_id"]].open_assignments == 0


async def test_withdrawal_frees_capacity_and_re_offers_the_slot_to_someone_not_yet_asked(
    matcher: Matcher,
) -> None:
    request = accepted(*PCB_IN_SENEGAL)
    lead, support = await matched(matcher, request)

    await matcher.respond(answer(lead, "withdraw", "our expert left"))

    events = matcher.events(request)
    (withdrawn,) = of_type(events, "ta.assignment.withdrawn")
    assert (withdrawn["partner_id"], withdrawn["reason"]) == (lead["partner_id"], "our expert left")
    assert matcher.store.partners[lead["partner_id"]].open_assignments == 0
    offers = matcher.offers(request)
    assert len(offers) == 3
    assert offers[2]["role"] == "lead"
    assert offers[2]["partner_id"] not in {lead["partner_id"], support["partner_id"]}
    assert matcher.store.requests[request.request_id].status == "matching"

    await matcher.respond(answer(offers[2], "accept"))
    assert len(of_type(matcher.events(request), "ta.request.matched")) == 2  # matched again


async def test_a_request_waits_while_capable_partners_are_full_and_is_offered_when_one_completes(
    matcher: Matcher,
) -> None:
    first = accepted(*PCB_IN_SENEGAL)
    lead, _ = await matched(matcher, first)
    await fill_every_partner(matcher)

    second = accepted(*PCB_IN_SENEGAL)
    await matcher.submit(second)

    assert matcher.offers(second) == []
    (why,) = of_type(matcher.events(second), "ta.request.waiting")
    assert lead["partner_id"] in why["partners"]
    assert why["topics"] == ["PCB"]
    assert "at capacity" in why["reason"]
    assert of_type(matcher.events(second), "ta.request.unmatched") == []
    assert matcher.store.requests[second.request_id].status == "waiting"

    await matcher.respond(completion(lead))  # frees one unit of the lead's capacity

    (offer,) = matcher.offers(second)
    assert offer["partner_id"] == lead["partner_id"]
    assert matcher.store.requests[second.request_id].status == "matching"
    assert matcher.store.partners[lead["partner_id"]].open_assignments == (
        matcher.store.partners[lead["partner_id"]].spec.capacity
    )


async def test_freed_capacity_goes_to_the_urgent_request_before_an_older_routine_one(
    matcher: Matcher,
) -> None:
    first = accepted(*PCB_IN_SENEGAL)
    lead, _ = await matched(matcher, first)
    await fill_every_partner(matcher)
    routine = accepted(*PCB_IN_SENEGAL)
    urgent = accepted(*PCB_IN_SENEGAL).model_copy(update={"urgency": Urgency.URGENT})
    older = accepted(*PCB_IN_SENEGAL)
    for request in (older, routine, urgent):
        await matcher.submit(request)

    await matcher.respond(completion(lead))

    assert [len(matcher.offers(r)) for r in (older, routine, urgent)] == [0, 0, 1]
    # The next unit freed goes to the oldest routine request.
    matcher.store.partners[lead["partner_id"]].spec = matcher.store.partners[
        lead["partner_id"]
    ].spec.model_copy(
        update={"capacity": matcher.store.partners[lead["partner_id"]].spec.capacity + 1}
    )
    matcher.store.registry_version += 1  # as an operator's edit does
    await waiting.pass_over(fake_units(matcher.store), matcher.matching)
    assert [len(matcher.offers(r)) for r in (older, routine, urgent)] == [1, 0, 1]


async def test_a_request_that_waited_its_longest_is_unmatched_with_its_topics(
    matcher: Matcher,
) -> None:
    await fill_every_partner(matcher)
    request = accepted(*PCB_IN_SENEGAL)
    await matcher.submit(request)
    assert matcher.store.requests[request.request_id].status == "waiting"

    assert await waiting.pass_over(fake_units(matcher.store), matcher.matching) == 0
    matcher.clock.now += matcher.max_wait + timedelta(seconds=1)
    assert await waiting.pass_over(fake_units(matcher.store), matcher.matching) == 1

    assert of_type(matcher.events(request), "ta.request.unmatched") == [
        {"request_id": str(request.request_id), "partners": [], "uncovered_topics": ["PCB"]}
    ]


async def test_a_request_nobody_could_ever_serve_is_unmatched_at_once(matcher: Matcher) -> None:
    request = accepted("SEN", ("NO-SUCH-TOPIC",), ("training",), ("fr",))
    await matcher.submit(request)
    assert of_type(matcher.events(request), "ta.request.waiting") == []
    assert len(of_type(matcher.events(request), "ta.request.unmatched")) == 1


async def test_a_completed_request_closes_with_feedback_and_a_live_one_does_not(
    matcher: Matcher,
) -> None:
    live = accepted(*PCB_IN_SENEGAL)
    await matched(matcher, live)
    await close(matcher, live)
    assert of_type(matcher.events(live), "ta.request.closed") == []  # partners still work on it

    done = accepted(*PCB_IN_SENEGAL)
    for offer in await matched(matcher, done):
        await matcher.respond(completion(offer))
    await close(matcher, done, rating=5)
    await close(matcher, done, rating=1)  # closed already: the second changes nothing

    assert of_type(matcher.events(done), "ta.request.closed") == [
        {
            "request_id": str(done.request_id),
            "closed_by": "submitter",
            "rating": 5,
            "comment": "thanks",
        }
    ]
    assert matcher.store.requests[done.request_id].rating == 5


async def test_a_waiting_request_can_be_closed_and_is_then_never_served(matcher: Matcher) -> None:
    first = accepted(*PCB_IN_SENEGAL)
    lead, _ = await matched(matcher, first)
    await fill_every_partner(matcher)
    request = accepted(*PCB_IN_SENEGAL)
    await matcher.submit(request)
    await close(matcher, request, rating=None)

    await matcher.respond(completion(lead))

    assert matcher.offers(request) == []
    assert matcher.store.requests[request.request_id].status == "closed"


async def test_an_operator_raising_a_capacity_serves_the_requests_waiting_for_it_at_once(
    matcher: Matcher,
) -> None:
    await fill_every_partner(matcher)
    request = accepted(*PCB_IN_SENEGAL)
    await matcher.submit(request)
    (why,) = of_type(matcher.events(request), "ta.request.waiting")
    lead = why["partners"][0]
    capacity = matcher.store.partners[lead].spec.capacity

    async with fake_units(matcher.store)() as uow:
        edited = await partners.edit_partner(
            uow, matcher.matching, lead, PartnerPatch(capacity=capacity + 1)
        )

    (offer,) = matcher.offers(request)
    assert offer["partner_id"] == lead
    assert edited.open_assignments == capacity + 1  # the new unit is taken already


async def test_topics_left_to_full_partners_wait_in_one_more_place_while_the_rest_is_offered(
    matcher: Matcher,
) -> None:
    await fill_every_partner(matcher)
    lead_id = "scrc-senegal"
    matcher.store.partners[lead_id].open_assignments = 0  # room for the lead only
    request = accepted("SEN", ("PCB", "FIN"), ("training",), ("fr",))
    await matcher.submit(request)

    (lead,) = matcher.offers(request)
    assert lead["partner_id"] == lead_id and "FIN" not in lead["covers_topics"]
    (why,) = of_type(matcher.events(request), "ta.request.waiting")
    assert why["partners"] and lead_id not in why["partners"]
    assert matcher.store.requests[request.request_id].status == "waiting"
    await matcher.respond(answer(lead, "accept"))
    assert of_type(matcher.events(request), "ta.request.unmatched") == []  # FIN still waits

    financier = why["partners"][0]
    capacity = matcher.store.partners[financier].spec.capacity
    async with fake_units(matcher.store)() as uow:
        await partners.edit_partner(
            uow, matcher.matching, financier, PartnerPatch(capacity=capacity + 1)
        )

    support = matcher.offers(request)[1]
    assert (support["partner_id"], support["role"]) == (financier, "support")
    assert "FIN" in support["covers_topics"]
    await matcher.respond(answer(support, "accept"))
    (matched,) = of_type(matcher.events(request), "ta.request.matched")
    assert matched["uncovered_topics"] == []


async def test_topics_only_full_partners_cover_are_unmatched_after_the_longest_wait(
    matcher: Matcher,
) -> None:
    await fill_every_partner(matcher)
    matcher.store.partners["scrc-senegal"].open_assignments = 0
    request = accepted("SEN", ("PCB", "FIN"), ("training",), ("fr",))
    await matcher.submit(request)
    (lead,) = matcher.offers(request)
    await matcher.respond(answer(lead, "accept"))

    matcher.clock.now += matcher.max_wait + timedelta(seconds=1)
    await waiting.pass_over(fake_units(matcher.store), matcher.matching)

    (unmatched,) = of_type(matcher.events(request), "ta.request.unmatched")
    assert unmatched["partners"] == ["scrc-senegal"]
    assert unmatched["uncovered_topics"] == ["FIN"]


async def test_on_its_own_topic_a_partner_cannot_complete_or_withdraw_anothers_work(
    matcher: Matcher,
) -> None:
    request = accepted(*PCB_IN_SENEGAL)
    lead, support = await matched(matcher, request)
    theirs = completion(support)
    in_their_name = AssignmentResponse(
        assignment_id=support["assignment_id"],
        partner_id=support["partner_id"],
        decision="withdraw",
        reason="not mine to give up",
    )

    with pytest.raises(PoisonRecord) as someone_elses:
        await matcher.partner_answers(
            lead["partner_id"], theirs.model_copy(update={"partner_id": lead["partner_id"]})
        )
    with pytest.raises(PoisonRecord) as naming_another:
        await matcher.partner_answers(lead["partner_id"], in_their_name)

    assert someone_elses.value.reason == "not_your_assignment"
    assert naming_another.value.reason == "identity_mismatch"
    events = matcher.events(request)
    assert of_type(events, "ta.assignment.completed") == []
    assert of_type(events, "ta.assignment.withdrawn") == []


@pytest.mark.parametrize(
    "bad",
    [
        {"outcome": "o" * 5_001},
        {"deliverables": ["javascript:alert(1)"]},
        {"deliverables": ["https://e.org/r"] * 21},
        {"reason": "r" * 2_001},
        {"decision": "finish"},
    ],
)
def test_an_answer_out_of_bounds_is_not_an_answer(bad: dict[str, object]) -> None:
    """What a partner's Kafka answer may carry is bounded by the event itself: such a record
    fails validation and is dead-lettered by the consumer (shared.consuming), never applied."""
    valid = {"assignment_id": str(uuid4()), "partner_id": "unido", "decision": "complete"}
    with pytest.raises(ValidationError):
        AssignmentResponse.model_validate(valid | bad)
    AssignmentResponse.model_validate(valid)  # the same record within bounds is fine
