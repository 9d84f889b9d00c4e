"""Operators' use cases on the partner registry, in memory (the fake unit of work)."""

from __future__ import annotations

import pytest

from services.matcher.adapters import reference_data
from services.matcher.domain import (
    InvalidPartner,
    PartnerExists,
    PartnerKind,
    PartnerNotFound,
    PartnerPatch,
    PartnerSpec,
)
from services.matcher.handlers import partners
from services.matcher.handlers.catalog import Catalog
from tests.matcher.fakes import MatcherStore, fake_units

TAXONOMY = reference_data.load_taxonomy()
SEED = reference_data.load_seed(TAXONOMY)


@pytest.fixture
def store() -> MatcherStore:
    return MatcherStore()


@pytest.fixture
def catalog() -> Catalog:
    return Catalog(TAXONOMY, SEED)


def new_partner(partner_id: str = "test-lab", **changes: object) -> PartnerSpec:
    base: dict[str, object] = {
        "partner_id": partner_id,
        "name": "Test partner",
        "kind": "igo",
        "serves_regions": ["AFR"],
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "capacity": 3,
    }
    return PartnerSpec.model_validate(base | changes)


async def test_listing_seeds_the_registry_first(store: MatcherStore, catalog: Catalog) -> None:
    async with fake_units(store)() as uow:
        listed = {p.spec.partner_id: p for p in await partners.list_partners(uow, catalog, None)}
        inactive = await partners.list_partners(uow, catalog, False)

    assert "SEN" in listed["scrc-senegal"].spec.serves_countries
    assert listed["demo-party-fra"].spec.demo
    assert not any(p.operator_edited for p in listed.values())
    assert all(not p.spec.active for p in inactive)


async def test_an_operator_creates_a_partner_once(store: MatcherStore, catalog: Catalog) -> None:
    async with fake_units(store)() as uow:
        created = await partners.create_partner(uow, catalog, new_partner())
    assert created.operator_edited and created.open_assignments == 0

    with pytest.raises(PartnerExists):
        async with fake_units(store)() as uow:
            await partners.create_partner(uow, catalog, new_partner(name="Another"))
    with pytest.raises(PartnerExists):  # a seed row is never mistaken for a free id
        async with fake_units(store)() as uow:
            await partners.create_partner(uow, catalog, new_partner("scrc-senegal"))
    assert store.partners["test-lab"].spec.name == "Test partner"


async def test_a_partner_outside_the_taxonomy_is_refused_with_every_reason(
    store: MatcherStore, catalog: Catalog
) -> None:
    bad = new_partner(topics=["NOPE"], serves_regions=["MARS"])
    with pytest.raises(InvalidPartner) as refused:
        async with fake_units(store)() as uow:
            await partners.create_partner(uow, catalog, bad)

    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("topics.0", "unknown_topic"),
        ("serves_regions.0", "unknown_region"),
    }
    assert "test-lab" not in store.partners and store.rollbacks == 1


async def test_a_patch_changes_only_its_fields_and_bumps_the_registry_version(
    store: MatcherStore, catalog: Catalog
) -> None:
    async with fake_units(store)() as uow:
        await partners.create_partner(uow, catalog, new_partner())
    version = store.registry_version

    async with fake_units(store)() as uow:
        patched = await partners.update_partner(
            uow, catalog, "test-lab", PartnerPatch(capacity=7, active=False)
        )

    assert (patched.spec.capacity, patched.spec.active) == (7, False)
    assert patched.spec.name == "Test partner"
    assert store.registry_version == version + 1


async def test_a_patch_is_checked_as_a_whole_partner(store: MatcherStore, catalog: Catalog) -> None:
    async with fake_units(store)() as uow:
        await partners.create_partner(uow, catalog, new_partner())

    with pytest.raises(InvalidPartner) as unknown:
        async with fake_units(store)() as uow:
            await partners.update_partner(uow, catalog, "test-lab", PartnerPatch(topics=["NOPE"]))
    with pytest.raises(InvalidPartner) as party_without_country:
        async with fake_units(store)() as uow:
            patch = PartnerPatch(kind=PartnerKind.PARTY)
            await partners.update_partner(uow, catalog, "test-lab", patch)

    assert [e.code for e in unknown.value.errors] == ["unknown_topic"]
    assert [(e.field, e.code) for e in party_without_country.value.errors] == [
        ("country", "missing")
    ]
    assert store.partners["test-lab"].spec.topics == ["PCB"]


async def test_an_unknown_partner_is_not_found(store: MatcherStore, catalog: Catalog) -> None:
    with pytest.raises(PartnerNotFound) as read:
        async with fake_units(store)() as uow:
            await partners.get_partner(uow, "nobody-here")
    with pytest.raises(PartnerNotFound) as patched:
        async with fake_units(store)() as uow:
            await partners.update_partner(uow, catalog, "nobody-here", PartnerPatch(capacity=1))
    assert read.value.partner_id == patched.value.partner_id == "nobody-here"
