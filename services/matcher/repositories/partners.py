"""The partner registry (partners, the areas they serve, its version and seed) and each
partner's load against its capacity."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.matcher.domain import PartnerKind, PartnerSpec, RegisteredPartner, RegistryMeta
from shared.db import Conn

_PARTNERS = (
    "SELECT p.*, "
    "coalesce(array_agg(a.code ORDER BY a.code) FILTER (WHERE a.area_kind = 'country'), "
    "'{}') AS serves_countries, "
    "coalesce(array_agg(a.code ORDER BY a.code) FILTER (WHERE a.area_kind = 'region'), "
    "'{}') AS serves_regions "
    "FROM matcher.partners p LEFT JOIN matcher.partner_areas a USING (partner_id) "
)
_COLUMNS = (
    "name, kind, country, serves_global, topics, assistance_types, languages, capacity, "
    "active, demo, note"
)


def _partner(r: asyncpg.Record) -> RegisteredPartner:
    # Rows were validated on the way in (and the table's CHECKs hold): no second validation,
    # which also keeps loading 10,000 partners cheap.
    spec = PartnerSpec.model_construct(
        partner_id=r["partner_id"],
        name=r["name"],
        kind=PartnerKind(r["kind"]),
        country=r["country"],
        serves_countries=list(r["serves_countries"]),
        serves_regions=list(r["serves_regions"]),
        serves_global=r["serves_global"],
        topics=list(r["topics"]),
        assistance_types=list(r["assistance_types"]),
        languages=list(r["languages"]),
        capacity=r["capacity"],
        active=r["active"],
        demo=r["demo"],
        note=r["note"],
    )
    return RegisteredPartner(spec, r["open_assignments"], r["operator_edited"], r["updated_at"])


def _values(s: PartnerSpec) -> tuple[object, ...]:
    return (
        s.partner_id,
        s.name,
        s.kind.value,
        s.country,
        s.serves_global,
        s.topics,
        s.assistance_types,
        s.languages,
        s.capacity,
        s.active,
        s.demo,
        s.note,
    )


class PgPartnerRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def find(self, *, active: bool | None = None) -> list[RegisteredPartner]:
        rows = await self._conn.fetch(
            _PARTNERS + "WHERE $1::boolean IS NULL OR p.active = $1 "
            "GROUP BY p.partner_id ORDER BY p.partner_id",
            active,
        )
        return [_partner(r) for r in rows]

    async def get(self, partner_id: str) -> RegisteredPartner | None:
        row = await self._conn.fetchrow(
            _PARTNERS + "WHERE p.partner_id = $1 GROUP BY p.partner_id", partner_id
        )
        return None if row is None else _partner(row)

    async def lock(self, partner_id: str) -> RegisteredPartner | None:
        """The partner, with its row locked so two concurrent edits apply one after the other."""
        if not await self._conn.fetchval(
            "SELECT 1 FROM matcher.partners WHERE partner_id = $1 FOR UPDATE", partner_id
        ):
            return None
        return await self.get(partner_id)

    async def create(self, spec: PartnerSpec) -> bool:
        """False when the id is taken. Created by an operator: seeding never touches it."""
        status: str = await self._conn.execute(
            f"INSERT INTO matcher.partners (partner_id, {_COLUMNS}, operator_edited) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true) "
            "ON CONFLICT (partner_id) DO NOTHING",
            *_values(spec),
        )
        if status != "INSERT 0 1":
            return False
        await self._replace_areas(spec)
        await self._bump_version()
        return True

    async def update(self, spec: PartnerSpec) -> None:
        """An operator's edit; marks the row so that seeding never overwrites it."""
        await self._conn.execute(
            f"UPDATE matcher.partners SET ({_COLUMNS}, operator_edited, updated_at) = "
            "($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true, now()) WHERE partner_id = $1",
            *_values(spec),
        )
        await self._replace_areas(spec)
        await self._bump_version()

    async def _replace_areas(self, spec: PartnerSpec) -> None:
        await self._conn.execute(
            "DELETE FROM matcher.partner_areas WHERE partner_id = $1", spec.partner_id
        )
        await self._conn.executemany(
            "INSERT INTO matcher.partner_areas (partner_id, area_kind, code) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            [(spec.partner_id, "country", c) for c in spec.serves_countries]
            + [(spec.partner_id, "region", r) for r in spec.serves_regions],
        )

    async def _bump_version(self) -> None:
        """Every replica compares this number before matching and reloads its index when it
        moved."""
        await self._conn.execute("UPDATE matcher.registry_meta SET version = version + 1")

    async def meta(self) -> RegistryMeta:
        row = await self._conn.fetchrow("SELECT version, seed_digest FROM matcher.registry_meta")
        assert row is not None, "registry_meta is created with one row by migration 0002"
        return RegistryMeta(row["version"], row["seed_digest"])

    async def seed(self, partners: Sequence[PartnerSpec], digest: str) -> int:
        """Upsert the seed file's partners; returns how many rows changed.

        Idempotent, and safe with several replicas starting at once (the meta row's lock orders
        them). A row an operator created or edited is never overwritten: later operator edits
        win.
        """
        if await self._conn.fetchval(
            "SELECT seed_digest = $1 FROM matcher.registry_meta FOR UPDATE", digest
        ):
            return 0  # another replica seeded this very file while we waited for the lock
        changed = 0
        for spec in partners:
            if await self._seed_one(spec):
                await self._replace_areas(spec)
                changed += 1
        await self._conn.execute(
            "UPDATE matcher.registry_meta SET seed_digest = $1, version = version + $2",
            digest,
            changed,
        )
        return changed

    async def _seed_one(self, spec: PartnerSpec) -> bool:
        upserted = await self._conn.fetchval(
            f"INSERT INTO matcher.partners (partner_id, {_COLUMNS}, seed_spec) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb) "
            f"ON CONFLICT (partner_id) DO UPDATE SET ({_COLUMNS}, seed_spec, updated_at) = "
            "(EXCLUDED.name, EXCLUDED.kind, EXCLUDED.country, EXCLUDED.serves_global, "
            "EXCLUDED.topics, EXCLUDED.assistance_types, EXCLUDED.languages, EXCLUDED.capacity, "
            "EXCLUDED.active, EXCLUDED.demo, EXCLUDED.note, EXCLUDED.seed_spec, now()) "
            "WHERE NOT partners.operator_edited "
            "AND partners.seed_spec IS DISTINCT FROM EXCLUDED.seed_spec "
            "RETURNING partner_id",
            *_values(spec),
            spec.model_dump_json(),
        )
        return upserted is not None

    # ------------------------------------------------------------------------- load vs capacity

    async def open_counts(self, partner_ids: Sequence[str]) -> dict[str, int]:
        """Open assignments of the given partners; partners with none are left out."""
        rows = await self._conn.fetch(
            "SELECT partner_id, open_assignments FROM matcher.partners "
            "WHERE partner_id = ANY($1::text[]) AND open_assignments > 0",
            list(partner_ids),
        )
        return {r["partner_id"]: r["open_assignments"] for r in rows}

    async def take_capacity(self, partner_ids: Sequence[str]) -> set[str]:
        """One more open assignment for each of the partners that is active and not full; the
        ones taken. The row locks this UPDATE takes make concurrent offers to one partner
        queue, so the check holds. One statement for a whole plan's partners."""
        rows = await self._conn.fetch(
            "UPDATE matcher.partners SET open_assignments = open_assignments + 1 "
            "WHERE partner_id = ANY($1::text[]) AND active AND open_assignments < capacity "
            "RETURNING partner_id",
            list(partner_ids),
        )
        return {r["partner_id"] for r in rows}

    async def release_capacity(self, partner_id: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.partners SET open_assignments = greatest(open_assignments - 1, 0) "
            "WHERE partner_id = $1",
            partner_id,
        )
