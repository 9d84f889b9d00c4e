"""What the offer saga counts (services/matcher/adapters/metrics.py), in memory: each offer and
how it ended, by role, and the time from a request's acceptance to its first offer and to its
lead's acceptance; counted once its unit commits, never for a unit rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from services.matcher.handlers import requests, waiting
from services.matcher.workers import sample_waiting
from tests.matcher.fakes import fake_units
from tests.matcher.helpers import accepted, answer, envelope
from tests.matcher.test_handlers import Matcher

OFFERS = [(role, outcome) for role in ("lead", "support") for outcome in ("offered", "declined")]
OFFERS += [("lead", "accepted"), ("lead", "expired"), ("support", "expired")]


class Counts:
    """The metrics as they stand, and how far they moved since the last look."""

    def __init__(self) -> None:
        self._before = self._read()

    @staticmethod
    def _read() -> dict[str, float]:
        read = {
            f"{role} {outcome}": REGISTRY.get_sample_value(
                "stax_offers_total", {"role": role, "outcome": outcome}
            )
            or 0.0
            for role, outcome in OFFERS
        }
        for name in ("stax_time_to_first_offer_seconds", "stax_time_to_match_seconds"):
            for part in ("count", "sum"):
                read[f"{name}_{part}"] = REGISTRY.get_sample_value(f"{name}_{part}") or 0.0
        return read

    def moved(self) -> dict[str, float]:
        """Each change, rounded to the microsecond: the registry is the process's, so a sum
        already holds other tests' real durations, and (s + 42) - s is not 42 in floats."""
        now = self._read()
        moved = {k: round(v - self._before[k], 6) for k, v in now.items() if v != self._before[k]}
        self._before = now
        return moved


@pytest.fixture
def matcher() -> Matcher:
    return Matcher()


@pytest.fixture
def counts() -> Iterator[Counts]:
    yield Counts()


async def test_offers_their_answers_and_the_times_to_first_offer_and_match_are_counted(
    matcher: Matcher, counts: Counts
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    request = request.model_copy(update={"accepted_at": matcher.clock.now - timedelta(seconds=42)})

    await matcher.submit(request)
    assert counts.moved() == {
        "lead offered": 1,
        "support offered": 1,
        "stax_time_to_first_offer_seconds_count": 1,
        "stax_time_to_first_offer_seconds_sum": 42,
    }

    lead, support = matcher.offers(request)
    await matcher.respond(answer(support, "decline"))  # re-offered: not a first offer again
    assert counts.moved() == {"support declined": 1, "support offered": 1}

    matcher.clock.now += timedelta(seconds=8)
    await matcher.respond(answer(lead, "accept"))
    await matcher.respond(answer(lead, "accept"))  # the same answer again counts nothing
    assert counts.moved() == {
        "lead accepted": 1,
        "stax_time_to_match_seconds_count": 1,
        "stax_time_to_match_seconds_sum": 50,
    }


async def test_expired_offers_are_counted_by_role(counts: Counts) -> None:
    matcher = Matcher(respond_within=timedelta(seconds=1))
    await matcher.submit(accepted("SEN", ("PCB",), ("training",), ("fr",)))
    counts.moved()

    matcher.clock.now += timedelta(seconds=2)
    assert await matcher.expire() == 1

    assert counts.moved() == {
        "lead expired": 1,
        "support expired": 1,
        "lead offered": 1,  # each slot re-offered to the next partner
        "support offered": 1,
    }


async def test_a_unit_rolled_back_counts_nothing(matcher: Matcher, counts: Counts) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))

    with pytest.raises(RuntimeError):
        async with fake_units(matcher.store)() as uow:
            await requests.on_request_accepted(
                uow, envelope(request), request, matching=matcher.matching
            )
            raise RuntimeError("the commit failed")

    assert counts.moved() == {}
    assert matcher.offers(request) == []


async def test_the_requests_waiting_for_room_are_sampled(matcher: Matcher) -> None:
    async with fake_units(matcher.store)() as uow:
        await matcher.catalog.ensure_seeded(uow.partners)
    for partner in matcher.store.partners.values():  # nobody has room: every request waits
        partner.open_assignments = partner.spec.capacity
    for _ in range(2):
        await matcher.submit(accepted("SEN", ("PCB",), ("training",), ("fr",)))

    await sample_waiting(fake_units(matcher.store))
    assert REGISTRY.get_sample_value("stax_waiting_requests") == 2

    for partner in matcher.store.partners.values():
        partner.open_assignments = 0
    async with fake_units(matcher.store)() as uow:
        await waiting.serve(uow, matcher.matching, freed=None)
    await sample_waiting(fake_units(matcher.store))
    assert REGISTRY.get_sample_value("stax_waiting_requests") == 0
