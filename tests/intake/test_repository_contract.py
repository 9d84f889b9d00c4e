"""One contract, two backends: every repository method intake's handlers use behaves the same on
the in-memory fake (tests/intake/fakes.py) and on PostgreSQL, so the handler tests that run on
the fake say something about the real thing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import randrange
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.intake.domain.dead_letters import Replayed
from services.intake.domain.model import (
    Answer,
    Closure,
    Milestones,
    Note,
    OfferStatus,
    StatusMark,
    TimelineEntry,
)
from services.intake.domain.reporting import Window, WorkFacts
from services.intake.unit_of_work import IntakeUnitOfWork, PgIntakeUnitOfWork, pg_units
from shared.envelope import build_record
from shared.events import AssignmentOffered, Eligibility, RequestAccepted, Role
from tests.intake.fakes import IntakeStore, fake_units
from tests.intake.samples import submission

AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Backend:
    units: Callable[[], IntakeUnitOfWork]
    # The data of the events queued about a request, as the open unit sees them: the tests read
    # the outbox inside a unit they then roll back, so no relay ever publishes their events.
    queued: Callable[[IntakeUnitOfWork, UUID], Awaitable[list[dict[str, Any]]]]
    # What no handler reads back but the tests must see: a request's feedback comment and the
    # times an assignment reached each status.
    comment: Callable[[IntakeUnitOfWork, UUID], Awaitable[str | None]]
    reached: Callable[[IntakeUnitOfWork, UUID], Awaitable[dict[str, datetime]]]


class _RollBackError(Exception):
    """Raised to roll a unit back."""


def _fake() -> Backend:
    store = IntakeStore()

    async def queued(_uow: IntakeUnitOfWork, request_id: UUID) -> list[dict[str, Any]]:
        key = str(request_id).encode()
        return [json.loads(r.value) for r in store.outbox if r.key == key]

    async def comment(_uow: IntakeUnitOfWork, request_id: UUID) -> str | None:
        closure = store.requests[request_id].closure
        return None if closure is None else closure.comment

    async def reached(_uow: IntakeUnitOfWork, assignment_id: UUID) -> dict[str, datetime]:
        return {str(status): t for status, t in store.offers[assignment_id].reached_at.items()}

    return Backend(fake_units(store), queued, comment, reached)


def _postgres(pool: asyncpg.Pool) -> Backend:
    async def queued(uow: IntakeUnitOfWork, request_id: UUID) -> list[dict[str, Any]]:
        assert isinstance(uow, PgIntakeUnitOfWork)
        values = await uow.conn.fetch(
            "SELECT value FROM intake.outbox WHERE key = $1 ORDER BY id", str(request_id).encode()
        )
        return [json.loads(v["value"]) for v in values]

    async def comment(uow: IntakeUnitOfWork, request_id: UUID) -> str | None:
        assert isinstance(uow, PgIntakeUnitOfWork)
        row = await uow.conn.fetchrow(
            "SELECT closed_at, feedback_comment FROM intake.requests WHERE request_id = $1",
            request_id,
        )
        assert row is not None
        return None if row["closed_at"] is None else str(row["feedback_comment"])

    async def reached(uow: IntakeUnitOfWork, assignment_id: UUID) -> dict[str, datetime]:
        assert isinstance(uow, PgIntakeUnitOfWork)
        row = await uow.conn.fetchrow(
            "SELECT accepted_at, started_at, completed_at, withdrawn_at FROM intake.assignments"
            " WHERE assignment_id = $1",
            assignment_id,
        )
        assert row is not None
        return {k.removesuffix("_at"): v for k, v in row.items() if v is not None}

    return Backend(pg_units(pool), queued, comment, reached)


@pytest.fixture(params=["fake", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        return _fake()
    return _postgres(request.getfixturevalue("pool"))  # PostgreSQL starts only for these


def _accepted(submitter: str, ref: str) -> RequestAccepted:
    return RequestAccepted(
        **submission(ref),
        request_id=uuid4(),
        submitter=submitter,
        region="AFR",
        eligibility=Eligibility(developing=True, economy_in_transition=False, ldc=True, sids=False),
        accepted_at=AT,
    )


def _note(request_id: UUID, at: datetime, event_type: str, summary: str) -> Note:
    return Note(uuid4(), request_id, TimelineEntry(at, event_type, None, summary))


async def _add(backend: Backend, event: RequestAccepted, topic: str | None = None) -> bool:
    async with backend.units() as uow:
        note = _note(event.request_id, AT, event.ce_type, "accepted")
        return await uow.requests.add(event, "hash-1", note=note, outcomes_topic=topic)


async def test_a_request_is_recorded_once_per_submitter_and_external_ref(backend: Backend) -> None:
    ref, submitter = f"ref-{uuid4()}", f"portal-{uuid4()}"
    first = _accepted(submitter, ref)
    assert await _add(backend, first, topic="ta.submitter.x.outcomes.v1")
    assert not await _add(backend, _accepted(submitter, ref))  # the same ref again
    assert await _add(backend, _accepted(f"other-{uuid4()}", ref))  # another's ref space

    async with backend.units() as uow:
        known = await uow.requests.by_ref(submitter, ref)
        unknown = await uow.requests.by_ref(submitter, "nope")
        view = await uow.requests.view(first.request_id)
        topic = await uow.requests.outcomes_topic_of(first.request_id)
    assert known is not None and (known.request_id, known.body_hash) == (first.request_id, "hash-1")
    assert unknown is None
    assert topic == "ta.submitter.x.outcomes.v1"
    assert view is not None
    assert (view.request_id, view.status, view.submitter) == (
        first.request_id,
        "accepted",
        submitter,
    )
    assert (view.external_ref, view.party, view.accepted_at) == (ref, "SEN", AT)
    assert view.timeline == [TimelineEntry(AT, "ta.request.accepted", None, "accepted")]


async def test_an_idempotency_key_is_recorded_once(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    async with backend.units() as uow:
        first = await uow.requests.add_idempotency_key(event.submitter, "k", event.request_id, "h")
        again = await uow.requests.add_idempotency_key(event.submitter, "k", event.request_id, "x")
        found = await uow.requests.by_idempotency_key(event.submitter, "k")
        missing = await uow.requests.by_idempotency_key(event.submitter, "other")
    assert (first, again) == (True, False)
    assert found is not None and (found.request_id, found.body_hash) == (event.request_id, "h")
    assert missing is None


async def test_a_status_is_read_locked_with_its_time_and_set(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    async with backend.units() as uow:
        first = await uow.requests.lock_status(event.request_id)
        await uow.requests.set_status(event.request_id, StatusMark("waiting", AT))
        await uow.requests.set_status(event.request_id, StatusMark("matched", AT + MINUTE))
        moved = await uow.requests.lock_status(event.request_id)
        seen = await uow.requests.view(event.request_id)
        await uow.requests.set_status(uuid4(), StatusMark("closed", AT))  # nobody: no error
        nothing = await uow.requests.lock_status(uuid4())
    assert first == StatusMark("accepted", None)
    assert moved == StatusMark("matched", AT + MINUTE)
    assert seen is not None and seen.status == "matched"
    assert nothing is None


async def test_milestones_recorded_with_a_status_move_the_request_in_the_same_write(
    backend: Backend,
) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    async with backend.units() as uow:
        await uow.requests.record(event.request_id, Milestones(first_offer_at=AT))
        kept = await uow.requests.lock_status(event.request_id)
        await uow.requests.record(
            event.request_id,
            Milestones(matched_at=AT + MINUTE),
            status=StatusMark("matched", AT + MINUTE),
        )
        moved = await uow.requests.lock_status(event.request_id)
        report = await uow.requests.view(event.request_id)
    assert kept == StatusMark("accepted", None)  # no status given: left as it was
    assert moved == StatusMark("matched", AT + MINUTE)
    assert report is not None and report.status == "matched"


async def test_an_erasure_is_found_locked_and_keeps_its_first_time(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    async with backend.units() as uow:
        before = await uow.requests.lock_for_erasure(event.request_id)
        unknown = await uow.requests.lock_for_erasure(uuid4())
        await uow.requests.erase_contact(event.request_id, erased_at=AT)
        await uow.requests.erase_contact(event.request_id, erased_at=AT + timedelta(hours=1))
        after = await uow.requests.lock_for_erasure(event.request_id)
        erased = await uow.requests.is_erased(event.request_id)
        never = await uow.requests.is_erased(uuid4())
    assert (before, unknown, after) == ((True, None), (False, None), (True, AT))
    assert (erased, never) == (True, False)


async def test_the_timeline_notes_each_event_once_in_time_order(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    later = _note(event.request_id, AT + timedelta(minutes=2), "ta.request.matched", "matched")
    failed = _note(
        event.request_id,
        AT + timedelta(minutes=1),
        "ta.notification.failed",
        "notifying unido by email failed after 5 attempt(s): 550 a@b.sn: no such user",
    )
    async with backend.units() as uow:
        for note in (later, failed, later):
            await uow.timeline.add(note)
        await uow.timeline.redact_notification_errors(event.request_id)
        view = await uow.requests.view(event.request_id)
    assert view is not None
    assert [(e.event_type, e.summary) for e in view.timeline] == [
        ("ta.request.accepted", "accepted"),
        ("ta.notification.failed", "notifying unido by email failed after 5 attempt(s): (erased)"),
        ("ta.request.matched", "matched"),
    ]


def _offer(request_id: UUID, partner_id: str) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner_id,
        partner_name=f"Partner {partner_id}",
        role=Role.SUPPORT,
        score=0.75,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=AT + timedelta(days=5),
    )


async def test_offers_are_recorded_once_locked_answered_and_listed(backend: Backend) -> None:
    partner, request_id = f"centre-{uuid4()}", uuid4()
    older, newer = _offer(request_id, partner), _offer(request_id, partner)
    answer = Answer(older.assignment_id, partner, "decline", "busy", uuid4(), AT)
    async with backend.units() as uow:
        await uow.assignments.add_offer(older, AT)
        await uow.assignments.add_offer(older, AT + timedelta(hours=1))  # the same offer again
        await uow.assignments.add_offer(newer, AT + timedelta(minutes=5))
        await uow.assignments.set_status(newer.assignment_id, "expired", at=AT)
        unanswered = await uow.assignments.answers_to(older.assignment_id)
        await uow.assignments.add_answer(answer)
        locked = await uow.assignments.lock(older.assignment_id)
        unknown = await uow.assignments.lock(uuid4())
        decision = await uow.assignments.answers_to(older.assignment_id)
        listed = await uow.assignments.of_partner(partner)
        nobody = await uow.assignments.of_partner(f"nobody-{uuid4()}")
    assert (unanswered, decision, unknown, nobody) == ([], ["decline"], None, [])
    assert locked is not None
    assert (locked.request_id, locked.partner_id, locked.status) == (request_id, partner, "offered")
    assert [(o.assignment_id, o.status, o.answer, o.offered_at) for o in listed] == [
        (newer.assignment_id, "expired", None, AT + timedelta(minutes=5)),
        (older.assignment_id, "offered", "decline", AT),
    ]
    first = listed[1]
    assert (first.request_id, first.partner_name, first.role, first.score) == (
        request_id,
        f"Partner {partner}",
        "support",
        0.75,
    )
    assert first.respond_by == AT + timedelta(days=5)


async def test_queued_events_lose_the_redacted_fields_of_the_types_named(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    record = build_record(event, source="/stax/intake", subject=str(event.request_id))
    with pytest.raises(_RollBackError):
        async with backend.units() as uow:
            await uow.emit([record])
            await uow.redact_outbox(event.request_id, ["ta.request.rejected"], ["party"])
            await uow.redact_outbox(event.request_id, [event.ce_type], ["contact"])
            (queued,) = await backend.queued(uow, event.request_id)
            raise _RollBackError
    assert "contact" not in queued
    assert queued["party"] == "SEN"  # only the fields named, only in the types named


async def test_a_failed_unit_leaves_nothing_behind(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    with pytest.raises(_RollBackError):
        async with backend.units() as uow:
            note = _note(event.request_id, AT, "t", "s")
            await uow.requests.add(event, "h", note=note, outcomes_topic=None)
            await uow.emit([build_record(event, source="/stax/intake", subject=str(uuid4()))])
            raise _RollBackError
    async with backend.units() as uow:
        assert await uow.requests.view(event.request_id) is None
        assert await backend.queued(uow, event.request_id) == []


async def test_milestones_keep_the_earliest_times_the_latest_uncovered_and_the_first_closure(
    backend: Backend,
) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    rid = event.request_id
    first = Closure(AT + 9 * MINUTE, "submitter", 4, "thank you, A. Ndiaye")
    async with backend.units() as uow:
        await uow.requests.record(rid, Milestones(first_offer_at=AT + 2 * MINUTE))
        await uow.requests.record(rid, Milestones(first_offer_at=AT + MINUTE))  # heard late
        await uow.requests.record(rid, Milestones(first_offer_at=AT + 3 * MINUTE))
        await uow.requests.record(
            rid, Milestones(matched_at=AT + 4 * MINUTE, uncovered_topics=("A",))
        )
        await uow.requests.record(rid, Milestones(matched_at=AT + 6 * MINUTE, uncovered_topics=()))
        await uow.requests.record(rid, Milestones(completed_at=AT + 8 * MINUTE))
        open_comment = await backend.comment(uow, rid)
        await uow.requests.record(rid, Milestones(closure=first))
        await uow.requests.record(rid, Milestones(closure=Closure(AT, "operator", None, "x")))
        await uow.requests.record(uuid4(), Milestones(completed_at=AT))  # nobody: no error
        requests, _ = await uow.reports.assistance_facts(Window(AT, AT + MINUTE))
        kept = await backend.comment(uow, rid)
        await uow.requests.erase_contact(rid, erased_at=AT)
        erased = await backend.comment(uow, rid)
    assert open_comment is None
    (facts,) = [r for r in requests if r.request_id == rid]  # the database holds others' too
    assert (facts.first_offer_at, facts.matched_at, facts.completed_at) == (
        AT + MINUTE,
        AT + 4 * MINUTE,
        AT + 8 * MINUTE,
    )
    assert (facts.uncovered_topics, facts.rating) == ((), 4)
    assert (kept, erased) == ("thank you, A. Ndiaye", "")


async def test_a_comment_heard_after_the_erasure_is_not_kept(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    async with backend.units() as uow:
        await uow.requests.erase_contact(event.request_id, erased_at=AT)
        closure = Closure(AT + MINUTE, "submitter", 5, "call me on +221 77 000 00 00")
        await uow.requests.record(event.request_id, Milestones(closure=closure))
        comment = await backend.comment(uow, event.request_id)
    assert comment == ""


async def test_an_assignment_keeps_when_it_first_reached_each_step(backend: Backend) -> None:
    offered = _offer(uuid4(), f"centre-{uuid4()}")
    aid = offered.assignment_id
    async with backend.units() as uow:
        await uow.assignments.add_offer(offered, AT)
        steps: list[tuple[OfferStatus, int]] = [
            ("accepted", 1),
            ("accepted", 2),
            ("started", 3),
            ("completed", 4),
        ]
        for status, minute in steps:
            await uow.assignments.set_status(aid, status, at=AT + minute * MINUTE)
        reached = await backend.reached(uow, aid)
        locked = await uow.assignments.lock(aid)
    assert reached == {
        "accepted": AT + MINUTE,
        "started": AT + 3 * MINUTE,
        "completed": AT + 4 * MINUTE,
    }
    assert locked is not None and locked.status == "completed"


async def test_the_report_reads_the_window_and_the_accepted_work_of_its_requests(
    backend: Backend,
) -> None:
    # A time no other test uses: the PostgreSQL backend is shared by the whole session.
    start = datetime(2400, 1, 1, tzinfo=UTC) + timedelta(minutes=randrange(10**8))
    inside, last, outside = (
        _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}").model_copy(update={"accepted_at": t})
        for t in (start, start + MINUTE - timedelta(microseconds=1), start + MINUTE)
    )
    for event in (inside, last, outside):
        await _add(backend, event)
    taken, refused, elsewhere = (
        _offer(inside.request_id, "unido"),
        _offer(inside.request_id, "brs"),
        _offer(outside.request_id, "undp"),
    )
    async with backend.units() as uow:
        for offered in (taken, refused, elsewhere):
            await uow.assignments.add_offer(offered, start)
            await uow.assignments.set_status(offered.assignment_id, "completed", at=start)
        await uow.assignments.set_status(refused.assignment_id, "declined", at=start)
        await uow.requests.set_status(inside.request_id, StatusMark("matched", start))
        requests, work = await uow.reports.assistance_facts(Window(start, start + MINUTE))
        everything, _ = await uow.reports.assistance_facts(Window())
    by_id = {r.request_id: r for r in requests}
    assert set(by_id) == {inside.request_id, last.request_id}  # from inclusive, to exclusive
    facts = by_id[inside.request_id]
    assert (facts.party, facts.region, facts.topics, facts.status) == (
        "SEN",
        "AFR",
        ("PCB",),
        "matched",
    )
    assert (facts.accepted_at, facts.first_offer_at, facts.rating) == (start, None, None)
    assert work == [WorkFacts(inside.request_id, "unido", "completed")]
    assert {inside.request_id, outside.request_id} <= {r.request_id for r in everything}


async def test_an_offers_summary_shows_its_request_and_its_first_answer(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    partner = f"centre-{uuid4()}"
    offered, orphan = _offer(event.request_id, partner), _offer(uuid4(), partner)
    async with backend.units() as uow:
        await uow.assignments.add_offer(offered, AT)
        await uow.assignments.add_offer(orphan, AT)  # its request not known here (yet)
        fresh = await uow.assignments.summary(offered.assignment_id)
        answer = Answer(offered.assignment_id, partner, "accept", "", uuid4(), AT)
        await uow.assignments.add_answer(answer)
        await uow.assignments.add_answer(
            Answer(offered.assignment_id, partner, "start", "", uuid4(), AT + MINUTE)
        )
        answered = await uow.assignments.summary(offered.assignment_id)
        alone = await uow.assignments.summary(orphan.assignment_id)
        unknown = await uow.assignments.summary(uuid4())
    assert fresh is not None and answered is not None and alone is not None and unknown is None
    assert (fresh.title, fresh.party, fresh.topics) == ("PCB inventory support", "SEN", ("PCB",))
    assert (fresh.partner_id, fresh.partner_name, fresh.role) == (
        partner,
        f"Partner {partner}",
        "support",
    )
    assert (fresh.request_id, fresh.respond_by, fresh.status) == (
        event.request_id,
        AT + timedelta(days=5),
        "offered",
    )
    assert (fresh.answer, answered.answer) == (None, "accept")
    assert (alone.title, alone.party, alone.topics) == ("", "", ())


async def test_an_answer_link_is_used_once(backend: Backend) -> None:
    digest, assignment_id = uuid4().hex, uuid4()
    async with backend.units() as uow:
        unused = await uow.links.is_used(digest)
        first = await uow.links.use(digest, assignment_id, AT)
        second = await uow.links.use(digest, assignment_id, AT + MINUTE)
        used = await uow.links.is_used(digest)
    assert (unused, first, second, used) == (False, True, False, True)
    with pytest.raises(_RollBackError):
        async with backend.units() as uow:
            assert await uow.links.use(f"{digest}-2", assignment_id, AT)
            raise _RollBackError
    async with backend.units() as uow:
        assert not await uow.links.is_used(f"{digest}-2")  # rolled back with its unit


async def test_a_dead_letter_is_replayed_once_and_a_rolled_back_replay_leaves_it_free(
    backend: Backend,
) -> None:
    # Far above the offsets the session's real dead-letter topic reaches.
    offset = randrange(10**12, 2**62)
    first = Replayed(offset, "ta.requests.v1", AT, "k1")
    async with backend.units() as uow:
        assert await uow.replays.of([offset]) == {}
        assert await uow.replays.claim(first)
        assert not await uow.replays.claim(Replayed(offset, "ta.assignments.v1", AT, "k2"))
        assert await uow.replays.of([offset, offset + 1]) == {offset: first}
    with pytest.raises(_RollBackError):
        async with backend.units() as uow:
            assert await uow.replays.claim(Replayed(offset + 1, "ta.requests.v1", AT, "k1"))
            raise _RollBackError  # as when the broker refuses the record
    async with backend.units() as uow:
        assert await uow.replays.of([offset, offset + 1]) == {offset: first}


async def test_used_links_are_forgotten_once_expired(backend: Backend) -> None:
    event = _accepted(f"portal-{uuid4()}", f"ref-{uuid4()}")
    await _add(backend, event)
    offered = _offer(event.request_id, f"centre-{uuid4()}")  # respond_by AT + 5 days
    answer_link, sign_in_link = uuid4().hex, uuid4().hex
    async with backend.units() as uow:
        await uow.assignments.add_offer(offered, AT)
        await uow.links.use(answer_link, offered.assignment_id, AT)
        await uow.links.use_sign_in(sign_in_link, "centre", AT)
        await uow.links.prune(AT + timedelta(minutes=59))  # neither has expired
        kept = (await uow.links.is_used(answer_link), await _sign_in_used(uow, sign_in_link))
        await uow.links.prune(AT + timedelta(hours=2))  # the sign-in link's hour is over
        later = (await uow.links.is_used(answer_link), await _sign_in_used(uow, sign_in_link))
        await uow.links.prune(AT + timedelta(days=5, seconds=1))  # past the offer's respond_by
        gone = await uow.links.is_used(answer_link)
    assert (kept, later, gone) == ((True, True), (True, False), False)


async def _sign_in_used(uow: IntakeUnitOfWork, digest: str) -> bool:
    """Whether a sign-in link is remembered: using it again is refused. (A forgotten one is
    recorded anew by this probe, as a real use would record it.)"""
    return not await uow.links.use_sign_in(digest, "probe", AT)
