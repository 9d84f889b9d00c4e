"""Operators' use cases on the partner registry: list, create, update, deactivate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.matcher import partner_repository as partners
from services.matcher.catalog import Catalog
from services.matcher.domain import PartnerKind, PartnerSpec, check_partner
from services.matcher.domain.partners import COUNTRY, MAX_CAPACITY, Countries, Regions
from services.matcher.partner_repository import PartnerRow
from shared import bounds
from shared.errors import from_pydantic
from shared.events import Codes, FieldError


class PartnerPatch(BaseModel):
    """A partial update: only the fields given change. Bounded like PartnerSpec (shared.bounds),
    so an oversized patch is refused before it is merged, checked or quoted in an error."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=bounds.MAX_PERSON_NAME)
    kind: PartnerKind | None = None
    country: str | None = Field(default=None, pattern=COUNTRY)
    serves_countries: Countries | None = None
    serves_regions: Regions | None = None
    serves_global: bool | None = None
    topics: Codes | None = None
    assistance_types: Codes | None = None
    languages: Codes | None = None
    capacity: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    active: bool | None = None
    demo: bool | None = None
    note: str | None = Field(default=None, max_length=bounds.MAX_REASON)


class Invalid(Exception):  # noqa: N818 - a result, not a failure of ours
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(Exception):  # noqa: N818
    pass


class Conflict(Exception):  # noqa: N818
    pass


@dataclass(frozen=True)
class PartnerAdmin:
    pool: asyncpg.Pool
    catalog: Catalog

    def _checked(self, spec: PartnerSpec) -> PartnerSpec:
        errors = check_partner(spec, self.catalog.taxonomy)
        if errors:
            raise Invalid(errors)
        return spec

    async def list(self, active: bool | None) -> list[PartnerRow]:
        async with self.pool.acquire() as conn:
            await self.catalog.ensure_seeded(conn)
            return await partners.list_partners(conn, active=active)

    async def get(self, partner_id: str) -> PartnerRow:
        async with self.pool.acquire() as conn:
            found = await partners.get_partner(conn, partner_id)
        if found is None:
            raise NotFound(partner_id)
        return found

    async def create(self, spec: PartnerSpec) -> PartnerRow:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.catalog.ensure_seeded(conn)  # so a seed row is never mistaken for free
            if not await partners.create_partner(conn, self._checked(spec)):
                raise Conflict(spec.partner_id)
        return await self.get(spec.partner_id)

    async def update(self, partner_id: str, patch: PartnerPatch) -> PartnerRow:
        async with self.pool.acquire() as conn, conn.transaction():
            await self.catalog.ensure_seeded(conn)
            found = await partners.lock_partner(conn, partner_id)
            if found is None:
                raise NotFound(partner_id)
            merged: dict[str, Any] = {
                **found.spec.model_dump(),
                **patch.model_dump(exclude_unset=True),
            }
            try:
                spec = PartnerSpec.model_validate(merged)
            except ValidationError as exc:
                raise Invalid(from_pydantic(exc.errors())) from exc
            await partners.update_partner(conn, self._checked(spec))
        return await self.get(partner_id)
