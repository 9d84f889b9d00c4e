"""The repositories' contract: every test runs on the fake unit of work and on PostgreSQL.

The handler tests trust the fake (tests/matcher/fakes.py); these tests are why they may. Each
test works inside one unit that is rolled back afterwards, so nothing reaches the shared
database, and makes its own ids, so the rows other tests left behind never matter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.matcher.domain import MatchRequest, PartnerSpec, Slot
from services.matcher.unit_of_work import (
    MatcherUnitOfWork,
    MatcherUnits,
    PgMatcherUnitOfWork,
    pg_units,
)
from shared.events import AssignmentOffered, AssignmentResponse, Role, Urgency
from tests.matcher.fakes import FakeMatcherUnitOfWork, MatcherStore, fake_units
from tests.matcher.helpers import accepted

# Far in the past: no offer another test left in the shared database is due this early.
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


class Rollback(Exception):  # noqa: N818 - not a failure: how each test's unit ends
    pass


async def add_offer(uow: MatcherUnitOfWork, made: AssignmentOffered, slot: int) -> bool:
    """One offer stored on its own: whether it was."""
    return made.assignment_id in await uow.offers.add([(made, slot)])


@pytest.fixture(params=["fake", "postgres"])
def units(request: pytest.FixtureRequest) -> MatcherUnits:
    if request.param == "fake":
        return fake_units(MatcherStore())
    return pg_units(request.getfixturevalue("pool"))  # only now is PostgreSQL started


@pytest.fixture
async def uow(units: MatcherUnits) -> AsyncIterator[MatcherUnitOfWork]:
    unit = units()
    await unit.__aenter__()
    try:
        yield unit
    finally:
        await unit.__aexit__(Rollback, Rollback(), None)


# ----------------------------------------------------------------------------- what to compare
# Effects no handler reads back are observed behind the repositories, in each backend's own way.


async def request_status(uow: MatcherUnitOfWork, request_id: UUID) -> str:
    if isinstance(uow, FakeMatcherUnitOfWork):
        return uow.store.requests[request_id].status
    assert isinstance(uow, PgMatcherUnitOfWork)
    status: str = await uow.conn.fetchval(
        "SELECT status FROM matcher.requests WHERE request_id = $1", request_id
    )
    return status


async def slot_status(uow: MatcherUnitOfWork, request_id: UUID, slot: int) -> str:
    if isinstance(uow, FakeMatcherUnitOfWork):
        return uow.store.slots[(request_id, slot)][1]
    assert isinstance(uow, PgMatcherUnitOfWork)
    status: str = await uow.conn.fetchval(
        "SELECT status FROM matcher.slots WHERE request_id = $1 AND slot = $2", request_id, slot
    )
    return status


async def verdicts(uow: MatcherUnitOfWork, assignment_id: UUID) -> list[str]:
    if isinstance(uow, FakeMatcherUnitOfWork):
        found = uow.store.responses.values()
        return [r.verdict for r in found if r.response.assignment_id == assignment_id]
    assert isinstance(uow, PgMatcherUnitOfWork)
    rows = await uow.conn.fetch(
        "SELECT verdict FROM matcher.responses WHERE assignment_id = $1", assignment_id
    )
    return [r["verdict"] for r in rows]


# ----------------------------------------------------------------------------- builders


async def new_request(uow: MatcherUnitOfWork) -> MatchRequest:
    request = MatchRequest.of(accepted("MLI", ("PCB", "WASTE")))
    assert await uow.requests.add(request)
    return request


def offer(
    request: MatchRequest,
    partner_id: str,
    respond_by: datetime = LONG_AGO,
    covers: tuple[str, ...] = ("PCB",),
) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request.request_id,
        partner_id=partner_id,
        partner_name=partner_id.title(),
        role=Role.LEAD,
        score=0.5,
        reasons=["a reason"],
        covers_topics=list(covers),
        respond_by=respond_by,
    )


def spec(partner_id: str, **changes: object) -> PartnerSpec:
    base: dict[str, object] = {
        "partner_id": partner_id,
        "name": "Seeded name",
        "kind": "igo",
        "serves_global": True,
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["en"],
        "capacity": 1,
    }
    return PartnerSpec.model_validate(base | changes)


# ----------------------------------------------------------------------------- requests and slots


async def test_waiting_requests_are_served_urgent_first_then_oldest_for_partners_with_room(
    uow: MatcherUnitOfWork, unique: str
) -> None:
    full, roomy = f"full-{unique}", f"roomy-{unique}"
    await uow.partners.create(spec(full, capacity=1))
    await uow.partners.create(spec(roomy, capacity=2))
    assert await uow.partners.take_capacity([full])
    older, newer = await new_request(uow), await new_request(uow)
    urgent = MatchRequest.of(
        accepted("MLI", ("PCB",)).model_copy(update={"urgency": Urgency.URGENT})
    )
    assert await uow.requests.add(urgent)
    since = LONG_AGO + timedelta(days=1)
    assert await uow.requests.wait(older.request_id, [full], since, replace=False)
    assert not await uow.requests.wait(older.request_id, [roomy], since, replace=False)
    assert await uow.requests.wait(newer.request_id, [roomy], since, replace=False)
    assert await uow.requests.wait(urgent.request_id, [full], since, replace=True)
    assert await request_status(uow, older.request_id) == "waiting"

    mine = [full, roomy]
    # urgent waits only for a full partner; older waits for both (merged): it comes first.
    assert await uow.requests.claim_waiting(mine, []) == older.request_id
    assert await uow.requests.claim_waiting(mine, [older.request_id]) == newer.request_id
    # urgent waits for full only, which has no room; older, waiting for full too, is skipped
    assert await uow.requests.claim_waiting([full], [older.request_id]) is None
    await uow.partners.release_capacity(full)
    assert await uow.requests.claim_waiting(mine, []) == urgent.request_id
    assert await uow.requests.claim_waiting([f"other-{unique}"], []) is None

    await uow.requests.set_status(urgent.request_id, "matching")  # served
    assert await uow.requests.claim_waiting([full], [older.request_id]) is None
    assert await uow.requests.claim_overdue_waiting(LONG_AGO) is None
    assert await uow.requests.claim_overdue_waiting(since) in (older.request_id, newer.request_id)


async def test_requests_waiting_for_room_are_counted(uow: MatcherUnitOfWork) -> None:
    before = await uow.requests.count_waiting()  # PostgreSQL's: what other tests left waiting
    waits, matched = await new_request(uow), await new_request(uow)
    assert await uow.requests.wait(waits.request_id, ["full"], LONG_AGO, replace=True)
    assert await uow.requests.wait(matched.request_id, ["full"], LONG_AGO, replace=True)
    assert await uow.requests.count_waiting() == before + 2

    await uow.requests.set_status(matched.request_id, "matching")  # served

    assert await uow.requests.count_waiting() == before + 1


async def test_a_closed_request_keeps_who_closed_it_and_the_feedback(
    uow: MatcherUnitOfWork,
) -> None:
    request = await new_request(uow)
    await uow.requests.record_closure(request.request_id, "submitter", 4, "very helpful")
    assert await uow.requests.status(request.request_id) == "closed"
    await uow.requests.erase_contact(request.request_id)  # the comment is erased with the rest
    assert await request_status(uow, request.request_id) == "closed"


async def test_work_is_started_completed_and_counted_until_it_is_done(
    uow: MatcherUnitOfWork,
) -> None:
    request = await new_request(uow)
    await uow.requests.add_slots(request.request_id, [Slot(0, "lead", ("PCB",))])
    lead, other = offer(request, "lead-partner"), offer(request, "other-partner")
    assert await add_offer(uow, lead, 0)
    assert await add_offer(uow, other, 1)
    assert await uow.offers.live_count(request.request_id) == 2
    await uow.offers.close(lead.assignment_id, "accepted", "")
    await uow.offers.start(lead.assignment_id)
    await uow.offers.close(other.assignment_id, "declined", "")
    assert await uow.offers.live_count(request.request_id) == 1
    found = await uow.offers.get(lead.assignment_id)
    assert found is not None and found.status == "started"
    assert await uow.offers.accepted(request.request_id) == [("lead-partner", ["PCB"])]

    await uow.offers.complete(lead.assignment_id, "done", ["https://example.org/r.pdf"])
    assert await uow.offers.live_count(request.request_id) == 0
    assert await uow.offers.completed_partners(request.request_id) == ["lead-partner"]
    assert await uow.offers.accepted(request.request_id) == [("lead-partner", ["PCB"])]
    assert await uow.requests.slots_in(request.request_id, "open") == [0]
    assert await uow.requests.has_slots(request.request_id)
    assert not await uow.requests.has_slots(uuid4())


async def test_a_request_is_stored_once_and_read_back_whole(uow: MatcherUnitOfWork) -> None:
    request = await new_request(uow)
    assert request.accepted_at is not None  # kept, for the time to first offer and to match

    assert not await uow.requests.add(request)  # a second copy changes nothing
    assert await uow.requests.lock(request.request_id) == request
    assert await uow.requests.lock(uuid4()) is None
    await uow.requests.erase_contact(request.request_id)  # none kept: nothing to erase
    assert await uow.requests.lock(request.request_id) == request


async def test_a_request_is_closed_with_its_outcome(uow: MatcherUnitOfWork) -> None:
    request = await new_request(uow)
    assert await request_status(uow, request.request_id) == "matching"

    await uow.requests.close(request.request_id, "unmatched")

    assert await request_status(uow, request.request_id) == "unmatched"


async def test_slots_keep_their_role_topics_and_status(uow: MatcherUnitOfWork) -> None:
    request = await new_request(uow)
    lead, support = Slot(0, "lead", ("PCB",)), Slot(1, "support", ("WASTE", "PCB"))

    await uow.requests.add_slots(request.request_id, [lead, support])
    await uow.requests.set_slot_status(request.request_id, 1, "exhausted")

    assert await uow.requests.slot(request.request_id, 0) == lead
    assert await uow.requests.slot(request.request_id, 1) == support
    assert await slot_status(uow, request.request_id, 0) == "open"
    assert await slot_status(uow, request.request_id, 1) == "exhausted"


async def test_the_request_due_first_is_claimed_once_its_deadline_passed(
    uow: MatcherUnitOfWork,
) -> None:
    early, late = await new_request(uow), await new_request(uow)
    assert await add_offer(uow, offer(late, "a", LONG_AGO + timedelta(hours=2)), 0)
    assert await add_offer(uow, offer(early, "b", LONG_AGO + timedelta(hours=1)), 0)

    assert await uow.requests.claim_due(LONG_AGO) is None
    assert await uow.requests.claim_due(LONG_AGO + timedelta(hours=3)) == early.request_id


# ----------------------------------------------------------------------------- offers and answers


async def test_a_partner_is_asked_once_per_request_and_a_slot_has_one_live_offer(
    uow: MatcherUnitOfWork,
) -> None:
    request = await new_request(uow)
    first = offer(request, "first")
    assert await add_offer(uow, first, 0)

    assert not await add_offer(uow, offer(request, "first"), 1)  # asked already
    assert not await add_offer(uow, offer(request, "second"), 0)  # the slot's offer is live
    await uow.offers.close(first.assignment_id, "declined", "busy")
    assert await add_offer(uow, offer(request, "second"), 0)  # a closed slot may be re-offered

    assert await uow.offers.asked_partners(request.request_id) == {"first", "second"}


async def test_offers_stored_together_leave_out_those_their_constraints_refuse(
    uow: MatcherUnitOfWork,
) -> None:
    request = await new_request(uow)
    lead, support = offer(request, "lead"), offer(request, "support")
    same_slot, asked = offer(request, "third"), offer(request, "lead")
    made = [(lead, 0), (support, 1), (same_slot, 1), (asked, 2)]

    assert await uow.offers.add(made) == {lead.assignment_id, support.assignment_id}
    found = await uow.offers.get(support.assignment_id)
    assert found is not None and (found.partner_id, found.slot) == ("support", 1)
    assert await uow.offers.get(same_slot.assignment_id) is None  # the first for a slot wins
    assert await uow.offers.asked_partners(request.request_id) == {"lead", "support"}


async def test_an_offer_is_read_back_and_closed(uow: MatcherUnitOfWork) -> None:
    request = await new_request(uow)
    made = offer(request, "lab", respond_by=datetime(2030, 5, 1, 12, tzinfo=UTC))
    await add_offer(uow, made, 3)

    found = await uow.offers.get(made.assignment_id)
    assert found is not None
    assert (found.request_id, found.partner_id, found.slot, found.status, found.role) == (
        request.request_id,
        "lab",
        3,
        "offered",
        "lead",
    )
    assert found.respond_by == made.respond_by
    await uow.offers.close(made.assignment_id, "expired", "no answer")
    closed = await uow.offers.get(made.assignment_id)
    assert closed is not None and closed.status == "expired"
    assert await uow.offers.get(uuid4()) is None


async def test_open_accepted_and_due_offers_are_counted_per_request(
    uow: MatcherUnitOfWork,
) -> None:
    request, other = await new_request(uow), await new_request(uow)
    support = offer(request, "support", covers=("WASTE",))
    lead = offer(request, "lead", covers=("PCB", "WASTE"))
    later = offer(request, "later", respond_by=LONG_AGO + timedelta(days=1))
    for slot, made in ((1, support), (0, lead), (2, later)):
        await add_offer(uow, made, slot)
    await add_offer(uow, offer(other, "elsewhere"), 0)

    assert await uow.offers.open_count(request.request_id) == 3
    due = await uow.offers.due(request.request_id, LONG_AGO)
    assert [d.partner_id for d in due] == ["lead", "support"]  # by slot, the later one not yet
    for made in (support, lead):
        await uow.offers.close(made.assignment_id, "accepted", "")
    assert await uow.offers.open_count(request.request_id) == 1
    assert await uow.offers.accepted(request.request_id) == [
        ("lead", ["PCB", "WASTE"]),
        ("support", ["WASTE"]),
    ]


async def test_each_answer_is_recorded_once_with_its_verdict(uow: MatcherUnitOfWork) -> None:
    assignment_id = uuid4()
    response = AssignmentResponse(
        assignment_id=assignment_id, partner_id="lab", decision="accept", reason=""
    )
    first, second = uuid4(), uuid4()

    await uow.offers.record_response(first, response, "applied")
    await uow.offers.record_response(first, response, "repeated")  # the same record again
    await uow.offers.record_response(second, response, "repeated")

    # One transaction stamps both alike (received_at = now()): compare them as a set of rows.
    assert sorted(await verdicts(uow, assignment_id)) == ["applied", "repeated"]


# ----------------------------------------------------------------------------- the registry


async def test_seeding_is_idempotent_and_never_overwrites_an_operator_edit(
    uow: MatcherUnitOfWork, unique: str
) -> None:
    kept, edited = f"kept-{unique}", f"edited-{unique}"
    assert await uow.partners.seed([spec(kept), spec(edited)], f"v1-{unique}") == 2
    assert await uow.partners.seed([spec(kept), spec(edited)], f"v1-{unique}") == 0
    assert (await uow.partners.meta()).seed_digest == f"v1-{unique}"

    await uow.partners.update(spec(edited, name="Operator's name", capacity=9))
    changed = [spec(kept, name="New seed name"), spec(edited, name="New seed name")]
    assert await uow.partners.seed(changed, f"v2-{unique}") == 1

    after_kept = await uow.partners.get(kept)
    after_edited = await uow.partners.get(edited)
    assert after_kept is not None and after_kept.spec.name == "New seed name"
    assert not after_kept.operator_edited
    assert after_edited is not None and after_edited.spec.name == "Operator's name"
    assert after_edited.spec.capacity == 9 and after_edited.operator_edited


async def test_every_registry_change_moves_its_version(uow: MatcherUnitOfWork, unique: str) -> None:
    start = (await uow.partners.meta()).version
    assert await uow.partners.create(spec(f"new-{unique}"))
    assert (await uow.partners.meta()).version == start + 1
    await uow.partners.update(spec(f"new-{unique}", capacity=4))
    assert (await uow.partners.meta()).version == start + 2
    assert not await uow.partners.create(spec(f"new-{unique}"))  # taken: nothing changes
    assert await uow.partners.seed([spec(f"seeded-{unique}")], f"d-{unique}") == 1
    assert (await uow.partners.meta()).version == start + 3


async def test_a_partner_is_read_back_as_written_with_its_areas_in_order(
    uow: MatcherUnitOfWork, unique: str
) -> None:
    written = spec(
        f"areas-{unique}",
        serves_global=False,
        serves_countries=["SEN", "MLI", "SEN"],
        serves_regions=["AFR"],
        active=False,
        note="a note",
    )
    assert await uow.partners.create(written)

    found = await uow.partners.get(written.partner_id)
    locked = await uow.partners.lock(written.partner_id)
    assert found is not None and found == locked
    assert found.spec == written.model_copy(update={"serves_countries": ["MLI", "SEN"]})
    assert (found.open_assignments, found.operator_edited) == (0, True)
    assert await uow.partners.get(f"missing-{unique}") is None
    assert await uow.partners.lock(f"missing-{unique}") is None


async def test_partners_are_listed_by_id_and_filtered_by_activity(
    uow: MatcherUnitOfWork, unique: str
) -> None:
    on, off = f"b-on-{unique}", f"a-off-{unique}"
    await uow.partners.create(spec(on))
    await uow.partners.create(spec(off, active=False))

    def ours(found: list[str]) -> list[str]:
        return [p for p in found if p in (on, off)]

    every = ours([p.spec.partner_id for p in await uow.partners.find()])
    active = ours([p.spec.partner_id for p in await uow.partners.find(active=True)])
    inactive = ours([p.spec.partner_id for p in await uow.partners.find(active=False)])
    assert (every, active, inactive) == ([off, on], [on], [off])


async def test_capacity_is_taken_atomically_and_never_exceeded(
    uow: MatcherUnitOfWork, unique: str
) -> None:
    tiny, roomy = f"tiny-{unique}", f"roomy-{unique}"
    await uow.partners.create(spec(tiny, capacity=1))
    await uow.partners.create(spec(roomy, capacity=5))

    assert await uow.partners.take_capacity([tiny])
    assert not await uow.partners.take_capacity([tiny])  # full
    assert await uow.partners.take_capacity([roomy])
    assert await uow.partners.open_counts([tiny, roomy, f"nobody-{unique}"]) == {
        tiny: 1,
        roomy: 1,
    }
    await uow.partners.release_capacity(tiny)
    await uow.partners.release_capacity(tiny)  # never below zero
    assert await uow.partners.open_counts([tiny, roomy]) == {roomy: 1}  # idle ones left out
    await uow.partners.update(spec(tiny, active=False))
    assert not await uow.partners.take_capacity([tiny])  # inactive
    assert not await uow.partners.take_capacity([f"nobody-{unique}"])
    await uow.partners.update(spec(tiny, active=True))
    other = f"other-{unique}"
    await uow.partners.create(spec(other, capacity=1))
    # A plan's partners in one call: those taken, the full and the unknown left out.
    assert await uow.partners.take_capacity([tiny, roomy, other, f"nobody-{unique}"]) == {
        tiny,
        roomy,
        other,
    }
    assert await uow.partners.take_capacity([roomy, other, tiny]) == {roomy}
    assert await uow.partners.open_counts([tiny, roomy, other]) == {tiny: 1, roomy: 3, other: 1}
