"""The partner registry's SQL on the real PostgreSQL; each test rolls its transaction back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.matcher import partner_repository as partners
from services.matcher import repository
from services.matcher.catalog import Catalog
from services.matcher.domain import PartnerSpec
from shared.db import Conn


@pytest.fixture
async def conn(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    async with pool.acquire() as held:
        transaction = held.transaction()
        await transaction.start()
        try:
            yield held
        finally:
            await transaction.rollback()


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


async def test_seeding_is_idempotent_and_never_overwrites_an_operator_edit(
    conn: Conn, unique: str
) -> None:
    kept, edited = f"kept-{unique}", f"edited-{unique}"
    assert await partners.seed(conn, [spec(kept), spec(edited)], f"v1-{unique}") == 2
    assert await partners.seed(conn, [spec(kept), spec(edited)], f"v1-{unique}") == 0

    await partners.update_partner(conn, spec(edited, name="Operator's name", capacity=9))
    changed = [spec(kept, name="New seed name"), spec(edited, name="New seed name")]
    assert await partners.seed(conn, changed, f"v2-{unique}") == 1

    after_kept = await partners.get_partner(conn, kept)
    after_edited = await partners.get_partner(conn, edited)
    assert after_kept is not None and after_kept.spec.name == "New seed name"
    assert after_edited is not None and after_edited.spec.name == "Operator's name"
    assert after_edited.spec.capacity == 9 and after_edited.operator_edited


async def test_the_real_seed_is_loaded_once_with_every_centre(conn: Conn) -> None:
    catalog = Catalog.from_data_files()
    registry = await catalog.current(conn)
    again = await catalog.current(conn)
    assert again is registry  # same version: the index is not rebuilt
    kinds = [p.spec.kind.value for p in registry.partners]
    assert kinds.count("regional_centre") == 16


async def test_capacity_is_taken_atomically_and_never_exceeded(conn: Conn, unique: str) -> None:
    await partners.create_partner(conn, spec(f"tiny-{unique}", capacity=1))
    assert await repository.take_capacity(conn, f"tiny-{unique}")
    assert not await repository.take_capacity(conn, f"tiny-{unique}")  # full
    await repository.release_capacity(conn, f"tiny-{unique}")
    await partners.update_partner(conn, spec(f"tiny-{unique}", active=False))
    assert not await repository.take_capacity(conn, f"tiny-{unique}")  # inactive
