"""Operators' use cases on the partner registry: list, read, create, update (or deactivate)."""

from __future__ import annotations

from services.matcher.domain import (
    PartnerExists,
    PartnerNotFound,
    PartnerPatch,
    PartnerSpec,
    RegisteredPartner,
    checked,
    patched,
)
from services.matcher.handlers import waiting
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork


async def list_partners(
    uow: MatcherUnitOfWork, catalog: Catalog, active: bool | None
) -> list[RegisteredPartner]:
    await catalog.ensure_seeded(uow.partners)
    return await uow.partners.find(active=active)


async def get_partner(uow: MatcherUnitOfWork, partner_id: str) -> RegisteredPartner:
    found = await uow.partners.get(partner_id)
    if found is None:
        raise PartnerNotFound(partner_id)
    return found


async def create_partner(
    uow: MatcherUnitOfWork, catalog: Catalog, spec: PartnerSpec
) -> RegisteredPartner:
    """PartnerExists when the id is taken, InvalidPartner when the data is not in taxonomy."""
    await catalog.ensure_seeded(uow.partners)  # so a seed row is never mistaken for free
    if not await uow.partners.create(checked(spec, catalog.taxonomy)):
        raise PartnerExists(spec.partner_id)
    return await get_partner(uow, spec.partner_id)


async def update_partner(
    uow: MatcherUnitOfWork, catalog: Catalog, partner_id: str, patch: PartnerPatch
) -> RegisteredPartner:
    """Apply the patch's fields (active=false deactivates): the partner's row stays locked from
    read to write, so two concurrent edits apply one after the other."""
    await catalog.ensure_seeded(uow.partners)
    found = await uow.partners.lock(partner_id)
    if found is None:
        raise PartnerNotFound(partner_id)
    await uow.partners.update(checked(patched(found.spec, patch), catalog.taxonomy))
    return await get_partner(uow, partner_id)


async def edit_partner(
    uow: MatcherUnitOfWork, matching: Matching, partner_id: str, patch: PartnerPatch
) -> RegisteredPartner:
    """update_partner; then whatever room the edit made (capacity raised, partner reactivated,
    topics or countries added) goes to the requests waiting for this partner, in the same
    transaction (brief §7.2: served as soon as capacity frees)."""
    await update_partner(uow, matching.catalog, partner_id, patch)
    await waiting.serve(uow, matching, freed=[partner_id])
    return await get_partner(uow, partner_id)
