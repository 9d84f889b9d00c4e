"""SQL for the partner registry: partners, the countries and regions they serve, the version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.matcher.domain import PartnerKind, PartnerSpec
from shared.db import Conn


@dataclass(frozen=True)
class PartnerRow:
    spec: PartnerSpec
    open_assignments: int
    operator_edited: bool
    updated_at: datetime


_SELECT = (
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


def _row(r: asyncpg.Record) -> PartnerRow:
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
    return PartnerRow(spec, r["open_assignments"], r["operator_edited"], r["updated_at"])


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


async def list_partners(conn: Conn, *, active: bool | None = None) -> list[PartnerRow]:
    rows = await conn.fetch(
        _SELECT + "WHERE $1::boolean IS NULL OR p.active = $1 "
        "GROUP BY p.partner_id ORDER BY p.partner_id",
        active,
    )
    return [_row(r) for r in rows]


async def get_partner(conn: Conn, partner_id: str) -> PartnerRow | None:
    row = await conn.fetchrow(_SELECT + "WHERE p.partner_id = $1 GROUP BY p.partner_id", partner_id)
    return None if row is None else _row(row)


async def create_partner(conn: Conn, spec: PartnerSpec) -> bool:
    """False when the id is taken. Created by an operator: seeding never touches it."""
    status: str = await conn.execute(
        f"INSERT INTO matcher.partners (partner_id, {_COLUMNS}, operator_edited) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true) "
        "ON CONFLICT (partner_id) DO NOTHING",
        *_values(spec),
    )
    if status != "INSERT 0 1":
        return False
    await _replace_areas(conn, spec)
    await bump_version(conn)
    return True


async def update_partner(conn: Conn, spec: PartnerSpec) -> None:
    """An operator's edit; marks the row so that seeding never overwrites it."""
    await conn.execute(
        f"UPDATE matcher.partners SET ({_COLUMNS}, operator_edited, updated_at) = "
        "($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true, now()) WHERE partner_id = $1",
        *_values(spec),
    )
    await _replace_areas(conn, spec)
    await bump_version(conn)


async def lock_partner(conn: Conn, partner_id: str) -> PartnerRow | None:
    """The partner, with its row locked so two concurrent edits apply one after the other."""
    if not await conn.fetchval(
        "SELECT 1 FROM matcher.partners WHERE partner_id = $1 FOR UPDATE", partner_id
    ):
        return None
    return await get_partner(conn, partner_id)


async def _replace_areas(conn: Conn, spec: PartnerSpec) -> None:
    await conn.execute("DELETE FROM matcher.partner_areas WHERE partner_id = $1", spec.partner_id)
    await conn.executemany(
        "INSERT INTO matcher.partner_areas (partner_id, area_kind, code) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        [(spec.partner_id, "country", c) for c in spec.serves_countries]
        + [(spec.partner_id, "region", r) for r in spec.serves_regions],
    )


async def bump_version(conn: Conn) -> None:
    """Every replica compares this number before matching and reloads its index when it moved."""
    await conn.execute("UPDATE matcher.registry_meta SET version = version + 1")


async def registry_meta(conn: Conn) -> tuple[int, str | None]:
    row = await conn.fetchrow("SELECT version, seed_digest FROM matcher.registry_meta")
    assert row is not None, "registry_meta is created with one row by migration 0002"
    return row["version"], row["seed_digest"]


async def seed(conn: Conn, partners: Sequence[PartnerSpec], digest: str) -> int:
    """Upsert the seed file's partners; returns how many rows changed.

    Idempotent, and safe with several replicas starting at once (the meta row's lock orders
    them). A row an operator created or edited is never overwritten: later operator edits win.
    """
    if await conn.fetchval("SELECT seed_digest = $1 FROM matcher.registry_meta FOR UPDATE", digest):
        return 0  # another replica seeded this very file while we waited for the lock
    changed = 0
    for spec in partners:
        upserted = await conn.fetchval(
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
        if upserted is not None:
            await _replace_areas(conn, spec)
            changed += 1
    await conn.execute(
        "UPDATE matcher.registry_meta SET seed_digest = $1, version = version + $2", digest, changed
    )
    return changed
