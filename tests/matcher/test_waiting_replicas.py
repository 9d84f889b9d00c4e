"""Waiting requests served by several matcher replicas at once, on PostgreSQL (brief §7.2 "safe
with several matcher instances"): one freed unit of capacity is offered once, never twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
import pytest

from services.matcher.domain import MatchPolicy, PartnerSpec
from services.matcher.handlers import requests, waiting
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import pg_units
from tests.matcher.helpers import accepted, envelope


@pytest.fixture
async def idle_afterwards(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The test fills every partner; they are idle again afterwards (as idle_partners does)."""
    yield
    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")


@pytest.mark.usefixtures("idle_afterwards")
async def test_two_replicas_serving_at_once_offer_one_freed_unit_once(
    pool: asyncpg.Pool, unique: str
) -> None:
    catalog = Catalog.from_data_files()
    matching = Matching(
        catalog, MatchPolicy(), lambda: datetime.now(UTC), timedelta(days=5), timedelta(days=30)
    )
    units = pg_units(pool)
    partner = f"solo-{unique}"
    spec = PartnerSpec.model_validate(
        {
            "partner_id": partner,
            "name": "Solo partner",
            "kind": "igo",
            "serves_global": True,
            "topics": ["PCB"],
            "assistance_types": ["training"],
            "languages": ["fr"],
            "capacity": 1,
        }
    )
    async with units() as uow:
        await catalog.ensure_seeded(uow.partners)
        assert await uow.partners.create(spec)
    await pool.execute("UPDATE matcher.partners SET open_assignments = capacity")  # all full
    waiting_ones = [accepted("MLI", ("PCB",), ("training",), ("fr",)) for _ in range(4)]
    for request in waiting_ones:
        async with units() as uow:
            await uow.claim("test", envelope(request).id)
            await requests.on_request_accepted(uow, envelope(request), request, matching=matching)
    ids = [r.request_id for r in waiting_ones]
    statuses = await pool.fetch(
        "SELECT status, $2 = ANY(waiting_for) AS waits FROM matcher.requests "
        "WHERE request_id = ANY($1::uuid[])",
        ids,
        partner,
    )
    assert [(s["status"], s["waits"]) for s in statuses] == [("waiting", True)] * 4

    try:
        await pool.execute(
            "UPDATE matcher.partners SET open_assignments = 0 WHERE partner_id = $1", partner
        )

        # Each replica claims its own waiting request (SKIP LOCKED), then all go on together:
        # all three read the partner's load while it has room, and race for the one unit.
        barrier = asyncio.Barrier(3)

        async def replica() -> None:
            async with units() as uow:
                claim = uow.requests.claim_waiting
                first = True

                async def claimed_together(
                    partner_ids: Sequence[str] | None, skip: Sequence[UUID]
                ) -> UUID | None:
                    nonlocal first
                    found = await claim(partner_ids, skip)
                    if first:
                        first = False
                        await barrier.wait()
                    return found

                setattr(uow.requests, "claim_waiting", claimed_together)  # noqa: B010
                await waiting.serve(uow, matching, freed=[partner])

        await asyncio.gather(*(replica() for _ in range(3)))

        offers = await pool.fetch(
            "SELECT request_id FROM matcher.assignments WHERE partner_id = $1", partner
        )
        assert len(offers) == 1  # one unit freed, one offer, whichever replica made it
        load = await pool.fetchval(
            "SELECT open_assignments FROM matcher.partners WHERE partner_id = $1", partner
        )
        assert load == 1
        still = await pool.fetchval(
            "SELECT count(*) FROM matcher.requests WHERE request_id = ANY($1::uuid[]) "
            "AND status = 'waiting'",
            ids,
        )
        assert still == 3
    finally:
        await pool.execute(
            "UPDATE matcher.partners SET active = false WHERE partner_id = $1", partner
        )
