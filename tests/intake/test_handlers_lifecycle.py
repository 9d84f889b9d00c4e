"""The lifecycle to its end on the read model (in memory): started, completed, withdrawn, waiting,
completed, closed; and the same final status whatever the interleaving of the two topics."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.intake.consumers import READ_MODEL
from services.intake.domain.model import Closure, OfferStatus, RequestStatus
from services.intake.handlers import erasure, submissions
from shared import topics
from shared.envelope import Envelope, as_envelope, build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentOutcome,
    AssignmentStarted,
    AssignmentWithdrawn,
    Event,
    RequestClosed,
    RequestClosing,
    RequestCompleted,
    RequestErased,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
    Role,
)
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore
from tests.intake.samples import submission
from tests.intake.scenarios import NOW, REFERENCE, accepted, clock, data_of, submitted


def at(minute: int) -> datetime:
    """The matcher's clock: minutes after the request was accepted."""
    return NOW + timedelta(minutes=minute)


@dataclass(frozen=True)
class Heard:
    """An event as the matcher stamped it (its ce_time), to be consumed in any order."""

    event: Event
    minute: int

    def envelope(self, request_id: UUID) -> Envelope:
        time = at(self.minute)
        return as_envelope(
            build_record(self.event, source="/stax/matcher", subject=str(request_id), time=time)
        )


async def consume(store: IntakeStore, request_id: UUID, *events: Heard) -> None:
    """Each event through intake's own consumer route, in a unit of its own."""
    routes = {t: r for _, (_, rs) in READ_MODEL.items() for t, r in rs.items()}
    for heard in events:
        envelope = heard.envelope(request_id)
        route = routes[envelope.type]
        async with FakeIntakeUnitOfWork(store) as uow:
            await route.apply(uow, envelope, route.model.model_validate(envelope.data))


def offer(request_id: UUID, partner: str) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner,
        partner_name=f"Partner {partner}",
        role=Role.LEAD,
        score=0.8,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=NOW + timedelta(days=5),
    )


def answer(
    kind: type[AssignmentOutcome], offered: AssignmentOffered, **more: object
) -> AssignmentOutcome:
    return kind.model_validate(
        {
            "assignment_id": offered.assignment_id,
            "request_id": offered.request_id,
            "partner_id": offered.partner_id,
            **more,
        }
    )


def summaries(store: IntakeStore, request_id: UUID) -> list[str]:
    notes = sorted(
        (n for n in store.timeline.values() if n.request_id == request_id),
        key=lambda n: (n.entry.at, n.ce_id),
    )
    return [n.entry.summary for n in notes]


async def test_the_whole_lifecycle_moves_the_request_and_reads_on_its_timeline() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    unido, brs, undp = (offer(request_id, p) for p in ("unido", "brs", "undp"))
    await consume(
        store,
        request_id,
        Heard(unido, 1),
        Heard(brs, 1),
        Heard(answer(AssignmentAccepted, unido), 2),
        Heard(answer(AssignmentAccepted, brs), 3),
        Heard(
            RequestMatched(request_id=request_id, partners=["unido", "brs"], uncovered_topics=[]), 4
        ),
        Heard(answer(AssignmentStarted, unido), 5),
        Heard(answer(AssignmentWithdrawn, brs, reason="our expert left"), 6),
        Heard(undp, 7),
        Heard(answer(AssignmentAccepted, undp), 8),
        Heard(
            RequestMatched(request_id=request_id, partners=["unido", "undp"], uncovered_topics=[]),
            9,
        ),
        Heard(
            answer(
                AssignmentCompleted,
                unido,
                outcome="inventory finished",
                deliverables=["https://unido.org/r1", "https://unido.org/r2"],
            ),
            10,
        ),
        Heard(answer(AssignmentCompleted, undp), 11),
        Heard(RequestCompleted(request_id=request_id, partners=["unido", "undp"]), 12),
        Heard(
            RequestClosed(request_id=request_id, closed_by="submitter", rating=4, comment="thanks"),
            13,
        ),
    )

    stored = store.requests[request_id]
    assert stored.status == "closed"
    assert summaries(store, request_id)[-9:] == [
        "started by unido",
        "withdrawn by brs: our expert left",
        "offered to Partner undp (undp) as lead, answer by 2026-12-02 09:30 UTC",
        "accepted by undp",
        "matched: unido, undp",
        "completed by unido: inventory finished, 2 deliverable(s)",
        "completed by undp",
        "completed: work done by unido, undp",
        "closed by submitter, rated 4/5",
    ]
    assert {o.offer.partner_id: o.status for o in store.offers.values()} == {
        "unido": "completed",
        "brs": "withdrawn",
        "undp": "completed",
    }
    done = store.offers[unido.assignment_id].reached_at
    assert (done["accepted"], done["started"], done["completed"]) == (at(2), at(5), at(10))
    assert store.offers[brs.assignment_id].reached_at["withdrawn"] == at(6)
    assert (stored.first_offer_at, stored.matched_at, stored.completed_at) == (at(1), at(4), at(12))
    assert stored.closure == Closure(at(13), "submitter", 4, "thanks")


async def test_a_waiting_request_says_for_whom_and_why_then_matches() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    unido = offer(request_id, "unido")
    waiting = RequestWaiting(
        request_id=request_id,
        partners=["unido", "brs"],
        topics=["PCB"],
        reason="every capable partner is at capacity",
    )
    await consume(store, request_id, Heard(waiting, 1))
    assert store.requests[request_id].status == "waiting"
    await consume(store, request_id, Heard(unido, 2))
    assert store.requests[request_id].status == "matching"  # capacity freed: offered
    await consume(store, request_id, Heard(answer(AssignmentAccepted, unido), 3))
    assert store.requests[request_id].status == "matching"  # until the matcher settles it

    assert "waiting for capacity of unido, brs: every capable partner is at capacity" in summaries(
        store, request_id
    )


async def test_an_operator_closes_an_unmatched_request_without_a_rating() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    await consume(
        store,
        request_id,
        Heard(RequestUnmatched(request_id=request_id, partners=[], uncovered_topics=["PCB"]), 1),
        Heard(RequestClosed(request_id=request_id, closed_by="operator"), 2),
    )
    stored = store.requests[request_id]
    assert (stored.status, stored.uncovered_topics) == ("closed", ("PCB",))
    assert summaries(store, request_id)[-1] == "closed by operator"


# --- Interleavings: each topic in its own order, the two merged every possible way ----------


def merges(first: Sequence[int], second: Sequence[int]) -> Iterator[list[int]]:
    """Every interleaving of two sequences that keeps each one's own order."""
    if not first or not second:
        yield [*first, *second]
        return
    for rest in merges(first[1:], second):
        yield [first[0], *rest]
    for rest in merges(first, second[1:]):
        yield [second[0], *rest]


@dataclass(frozen=True)
class Story:
    """What the matcher said on each topic, and the status it leaves the request in."""

    requests: list[Heard]  # ta.requests.v1
    assignments: list[Heard]  # ta.assignments.v1
    status: RequestStatus
    offers: dict[str, OfferStatus]


def stories(request_id: UUID) -> dict[str, Story]:
    a, b = offer(request_id, "a"), offer(request_id, "b")

    def matched(minute: int, *partners: str) -> Heard:
        outcome = RequestMatched(
            request_id=request_id, partners=list(partners), uncovered_topics=[]
        )
        return Heard(outcome, minute)

    waiting = RequestWaiting(request_id=request_id, partners=["a"], topics=["PCB"], reason="full")
    return {
        "offered, accepted, matched": Story(
            [matched(3, "a")],
            [Heard(a, 1), Heard(answer(AssignmentAccepted, a), 2)],
            "matched",
            {"a": "accepted"},
        ),
        "a late offer, declined, does not undo the wait": Story(
            [Heard(waiting, 3)],
            [Heard(a, 1), Heard(answer(AssignmentDeclined, a), 2)],
            "waiting",
            {"a": "declined"},
        ),
        "waiting, then offered and matched": Story(
            [Heard(waiting, 1), matched(4, "a")],
            [Heard(a, 2), Heard(answer(AssignmentAccepted, a), 3)],
            "matched",
            {"a": "accepted"},
        ),
        "a withdrawn slot re-offered is matching again": Story(
            [matched(3, "a")],
            [
                Heard(a, 1),
                Heard(answer(AssignmentAccepted, a), 2),
                Heard(answer(AssignmentWithdrawn, a, reason="no staff"), 4),
                Heard(b, 4),
            ],
            "matching",
            {"a": "withdrawn", "b": "offered"},
        ),
        "…and matched once the re-offer is accepted": Story(
            [matched(3, "a"), matched(6, "b")],
            [
                Heard(a, 1),
                Heard(answer(AssignmentAccepted, a), 2),
                Heard(answer(AssignmentWithdrawn, a), 4),
                Heard(b, 4),
                Heard(answer(AssignmentAccepted, b), 5),
            ],
            "matched",
            {"a": "withdrawn", "b": "accepted"},
        ),
        "done to the end and closed": Story(
            [
                matched(3, "a"),
                Heard(RequestCompleted(request_id=request_id, partners=["a"]), 6),
                Heard(RequestClosed(request_id=request_id, closed_by="submitter", rating=5), 7),
            ],
            [
                Heard(a, 1),
                Heard(answer(AssignmentAccepted, a), 2),
                Heard(answer(AssignmentStarted, a), 4),
                Heard(answer(AssignmentCompleted, a, outcome="done"), 5),
            ],
            "closed",
            {"a": "completed"},
        ),
        "nothing moves a closed request": Story(
            [
                Heard(waiting, 2),
                Heard(RequestClosed(request_id=request_id, closed_by="operator"), 4),
            ],
            [Heard(a, 1), Heard(answer(AssignmentExpired, a), 3), Heard(b, 5)],
            "closed",
            {"a": "expired", "b": "offered"},
        ),
    }


@pytest.mark.parametrize("name", list(stories(uuid4())))
async def test_the_final_status_is_the_same_in_every_interleaving_of_the_two_topics(
    name: str,
) -> None:
    shape = stories(uuid4())[name]
    on_requests = range(len(shape.requests))
    on_assignments = range(len(shape.requests), len(shape.requests) + len(shape.assignments))
    seen: set[tuple[object, ...]] = set()
    for n, order in enumerate(merges(on_requests, on_assignments)):
        store = IntakeStore()
        request_id = await accepted(store, ref=f"r-{n}")
        story = stories(request_id)[name]  # the same story, about this request
        told = [*story.requests, *story.assignments]
        await consume(store, request_id, *(told[i] for i in order))

        stored = store.requests[request_id]
        offers = {o.offer.partner_id: o.status for o in store.offers.values()}
        assert (stored.status, offers) == (story.status, story.offers), order
        assert len(summaries(store, request_id)) == 1 + len(told)  # each event noted once
        seen.add((stored.first_offer_at, stored.matched_at, stored.completed_at))
    assert len(seen) == 1  # the report's times are the same too


# --- Feedback and erasure -----------------------------------------------------------------------


async def _tenant_request(store: IntakeStore) -> UUID:
    async with FakeIntakeUnitOfWork(store) as uow:
        envelope = submitted(submission("t-1"), tenant="acme")
        await submissions.on_tenant_submitted(
            uow, envelope, envelope.data, reference=REFERENCE, clock=clock
        )
    (request_id,) = store.requests
    return request_id


async def test_the_lifecycle_is_copied_to_the_submitters_topic() -> None:
    store = IntakeStore()
    request_id = await _tenant_request(store)
    a = offer(request_id, "a")
    store.outbox.clear()
    await consume(
        store,
        request_id,
        Heard(a, 1),
        Heard(answer(AssignmentAccepted, a), 2),
        Heard(RequestWaiting(request_id=request_id, partners=["a"], topics=[], reason="full"), 3),
        Heard(answer(AssignmentStarted, a), 4),
        Heard(answer(AssignmentCompleted, a), 5),
        Heard(RequestCompleted(request_id=request_id, partners=["a"]), 6),
        Heard(
            RequestClosed(request_id=request_id, closed_by="submitter", rating=3, comment="ok"), 7
        ),
    )
    assert {r.topic for r in store.outbox} == {topics.submitter_outcomes_topic("acme")}
    assert [r.headers["ce_type"] for r in store.outbox][-5:] == [
        "ta.request.waiting",
        "ta.assignment.started",
        "ta.assignment.completed",
        "ta.request.completed",
        "ta.request.closed",
    ]
    assert data_of(store.outbox[-1])["comment"] == "ok"  # its own words, to its own topic


async def test_an_erasure_blanks_the_feedback_comment_kept_and_queued() -> None:
    store = IntakeStore()
    request_id = await _tenant_request(store)
    closing = RequestClosing(request_id=request_id, closed_by="submitter", rating=2, comment="Me")
    async with FakeIntakeUnitOfWork(store) as uow:  # as the feedback route queues it
        await uow.emit([build_record(closing, source="/stax/intake", subject=str(request_id))])
    closed = RequestClosed(request_id=request_id, closed_by="submitter", rating=2, comment="Me")
    await consume(store, request_id, Heard(closed, 1))

    erased = RequestErased(request_id=request_id, erased_at=at(2))
    await consume(store, request_id, Heard(erased, 2))

    closure = store.requests[request_id].closure
    assert closure is not None and (closure.comment, closure.rating) == ("", 2)
    feedback = [data_of(r) for r in store.outbox if r.headers["ce_type"] in erasure.FEEDBACK_TYPES]
    assert len(feedback) == 2
    assert all("comment" not in data and data["rating"] == 2 for data in feedback)


async def test_a_comment_heard_after_the_erasure_is_neither_kept_nor_copied() -> None:
    store = IntakeStore()
    request_id = await _tenant_request(store)
    await consume(
        store, request_id, Heard(RequestErased(request_id=request_id, erased_at=at(1)), 1)
    )
    closed = RequestClosed(request_id=request_id, closed_by="submitter", rating=5, comment="Me")
    await consume(store, request_id, Heard(closed, 2))

    closure = store.requests[request_id].closure
    assert closure is not None and (closure.comment, closure.rating) == ("", 5)
    copy = data_of(store.outbox[-1])
    assert "comment" not in copy and copy["rating"] == 5


def test_intake_reads_the_lifecycle_but_not_its_own_closing_command() -> None:
    routed = {t for _, (_, routes) in READ_MODEL.items() for t in routes}
    assert {
        "ta.assignment.started",
        "ta.assignment.completed",
        "ta.assignment.withdrawn",
        "ta.request.waiting",
        "ta.request.completed",
        "ta.request.closed",
    } <= routed
    assert RequestClosing.ce_type not in routed  # skipped when it comes back, like accepted
