"""Partner answers and listings on the in-memory unit of work: own offers only, once, and
never against an earlier answer or the offer's end."""

from __future__ import annotations

import asyncio
import time
from uuid import UUID, uuid4

import pytest

from services.intake.domain.errors import AnswerConflict, NotYourAssignment, UnknownAssignment
from services.intake.domain.model import Decision
from services.intake.handlers import answers, tracking, views
from shared import topics
from shared.doorbell import Arrivals
from shared.events import AssignmentExpired, AssignmentOffered
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore
from tests.intake.scenarios import clock, data_of, envelope_of, offered_in


async def _offered(store: IntakeStore, partner_id: str = "unido") -> AssignmentOffered:
    return await offered_in(store, partner_id, partner_name=f"Partner {partner_id}")


async def _answer(
    store: IntakeStore,
    assignment_id: UUID,
    decision: Decision,
    partner_id: str = "unido",
    reason: str = "",
) -> bool:
    async with FakeIntakeUnitOfWork(store) as uow:
        return await answers.answer_offer(
            uow,
            assignment_id=assignment_id,
            partner_id=partner_id,
            decision=decision,
            reason=reason,
            clock=clock,
        )


def _responses(store: IntakeStore) -> list[dict[str, object]]:
    return [data_of(r) for r in store.outbox if r.topic == topics.ASSIGNMENT_RESPONSES]


async def test_an_answer_is_recorded_emitted_and_noted_once_and_a_repeat_is_idempotent() -> None:
    store = IntakeStore()
    offer = await _offered(store)

    assert await _answer(store, offer.assignment_id, "accept", reason="we can")
    assert not await _answer(store, offer.assignment_id, "accept")
    with pytest.raises(AnswerConflict, match="the assignment is accepted"):
        await _answer(store, offer.assignment_id, "decline")

    assert _responses(store) == [
        {
            "assignment_id": str(offer.assignment_id),
            "partner_id": "unido",
            "decision": "accept",
            "reason": "we can",
            "outcome": "",
            "deliverables": [],
        }
    ]
    response = next(r for r in store.outbox if r.topic == topics.ASSIGNMENT_RESPONSES)
    assert response.key == str(offer.request_id).encode()
    notes = [n for n in store.timeline.values() if n.ce_id == response.ce_id]
    assert [n.entry.summary for n in notes] == ["unido answered accept: we can"]


async def test_a_partner_answers_only_its_own_known_offers() -> None:
    store = IntakeStore()
    offer = await _offered(store, partner_id="mine")
    with pytest.raises(NotYourAssignment):
        await _answer(store, offer.assignment_id, "decline", partner_id="other")
    with pytest.raises(UnknownAssignment):
        await _answer(store, uuid4(), "accept")
    assert _responses(store) == []


async def test_an_expired_offer_cannot_be_answered() -> None:
    store = IntakeStore()
    offer = await _offered(store)
    expired = AssignmentExpired(
        assignment_id=offer.assignment_id, request_id=offer.request_id, partner_id="unido"
    )
    async with FakeIntakeUnitOfWork(store) as uow:
        await tracking.on_assignment_outcome(uow, envelope_of(expired, offer.request_id), expired)

    with pytest.raises(AnswerConflict, match="expired"):
        await _answer(store, offer.assignment_id, "accept")


async def test_a_partner_lists_its_open_and_past_offers_newest_first() -> None:
    store = IntakeStore()
    answered, expiring, waiting = [await _offered(store, "lister") for _ in range(3)]
    await _offered(store, "someone-else")
    await _answer(store, answered.assignment_id, "decline", partner_id="lister")
    store.offers[expiring.assignment_id].status = "expired"

    async with FakeIntakeUnitOfWork(store) as uow:
        open_, past = await views.partner_offers(uow, "lister")

    assert [o.assignment_id for o in open_] == [waiting.assignment_id]
    assert [(o.assignment_id, o.status, o.answer) for o in past] == [
        (expiring.assignment_id, "expired", None),
        (answered.assignment_id, "offered", "decline"),
    ]


async def test_accepted_work_is_started_completed_and_each_step_emitted_once() -> None:
    store = IntakeStore()
    offer = await _offered(store)

    for decision in ("accept", "start", "complete"):
        assert await _answer(store, offer.assignment_id, decision)
    assert not await _answer(store, offer.assignment_id, "start")  # in effect already
    assert not await _answer(store, offer.assignment_id, "accept")

    assert [r["decision"] for r in _responses(store)] == ["accept", "start", "complete"]


@pytest.mark.parametrize(
    ("before", "decision", "why"),
    [
        ((), "complete", "the assignment is offered"),  # accept first
        ((), "withdraw", "the assignment is offered"),  # an offer is declined instead
        (("accept", "complete"), "withdraw", "the assignment is completed"),
        (("accept", "withdraw"), "complete", "the assignment is withdrawn"),
        (("decline",), "start", "the assignment is declined"),
    ],
)
async def test_answers_the_lifecycle_does_not_allow_are_refused_before_anything_is_emitted(
    before: tuple[Decision, ...], decision: Decision, why: str
) -> None:
    store = IntakeStore()
    offer = await _offered(store)
    for earlier in before:
        assert await _answer(store, offer.assignment_id, earlier)

    with pytest.raises(AnswerConflict, match=why):
        await _answer(store, offer.assignment_id, decision)
    assert len(_responses(store)) == len(before)


async def test_work_the_matcher_ended_cannot_be_completed_here() -> None:
    store = IntakeStore()
    offer = await _offered(store)
    assert await _answer(store, offer.assignment_id, "accept")
    store.offers[offer.assignment_id].status = "withdrawn"  # as matcher announced it (on Kafka)

    with pytest.raises(AnswerConflict, match="the assignment is withdrawn"):
        await _answer(store, offer.assignment_id, "complete")


def _waiting(seconds: float, per_owner: int = 4) -> answers.OfferWait:
    return answers.OfferWait(Arrivals("test", capacity=8, per_owner=per_owner), seconds)


async def test_an_answer_before_its_offer_is_tried_again_when_the_offer_is_recorded() -> None:
    wait, assignment_id, tries = _waiting(5), uuid4(), []

    async def attempt() -> str:
        tries.append(time.monotonic())
        if len(tries) == 1:
            asyncio.get_running_loop().call_later(
                0.05, wait.offers.heard, None, 1, "test", str(assignment_id)
            )
            raise UnknownAssignment
        return "answered"

    assert (
        await answers.once_offered(wait, assignment_id, attempt, partner_id="unido") == "answered"
    )
    assert len(tries) == 2 and tries[1] - tries[0] < 1  # woken by the notice, not the 5 s


async def test_an_offer_that_never_comes_is_looked_for_once_more_after_the_wait() -> None:
    wait, tries = _waiting(0.05), []

    async def attempt() -> None:
        tries.append(time.monotonic())
        raise UnknownAssignment

    with pytest.raises(UnknownAssignment):
        await answers.once_offered(wait, uuid4(), attempt, partner_id="unido")
    assert len(tries) == 2 and tries[1] - tries[0] >= 0.04


async def test_no_wait_when_waits_are_off_or_the_partner_has_too_many_waiting() -> None:
    tries: list[float] = []

    async def attempt() -> None:
        tries.append(time.monotonic())
        raise UnknownAssignment

    with pytest.raises(UnknownAssignment):
        await answers.once_offered(_waiting(0), uuid4(), attempt, partner_id="unido")
    assert len(tries) == 1
    crowded = _waiting(5, per_owner=1)
    with crowded.offers.expecting("another", "unido"), pytest.raises(UnknownAssignment):
        await answers.once_offered(crowded, uuid4(), attempt, partner_id="unido")
    assert len(tries) == 2  # one look each, no wait
