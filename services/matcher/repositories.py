"""All of matcher's SQL, one class per group of tables, each built on the unit's connection.

- `PgRequestRepository`: requests and their slots (a request's row is its lock);
- `PgOfferRepository`: assignments (the offers) and the answers received;
- `PgPartnerRepository`: the partner registry (partners, the areas they serve, its version) and
  the partners' load against their capacity.

Rows never leave this module: every method returns domain models (services.matcher.domain).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.matcher.domain import (
    Assignment,
    MatchRequest,
    PartnerKind,
    PartnerSpec,
    RegisteredPartner,
    RegistryMeta,
    Slot,
)
from shared.db import Conn
from shared.events import AssignmentOffered, AssignmentResponse


class PgRequestRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, request: MatchRequest) -> bool:
        """False when the request is already known (intake re-emitted it with another ce_id).
        Only what matching reads is stored: never the Party's contact."""
        status: str = await self._conn.execute(
            "INSERT INTO matcher.requests (request_id, request) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (request_id) DO NOTHING",
            request.request_id,
            request.model_dump_json(),
        )
        return status == "INSERT 0 1"

    async def lock(self, request_id: UUID) -> MatchRequest | None:
        """The request, row-locked until the transaction ends: all work on one request
        (answers, expiry, every replica) happens one transaction at a time."""
        raw: str | None = await self._conn.fetchval(
            "SELECT request FROM matcher.requests WHERE request_id = $1 FOR UPDATE", request_id
        )
        return None if raw is None else MatchRequest.model_validate_json(raw)

    async def claim_due(self, now: datetime) -> UUID | None:
        """A request with an offer past its deadline, row-locked; SKIP LOCKED lets every
        replica's expiry worker (and the answer handlers holding a request) work on different
        requests."""
        request_id: UUID | None = await self._conn.fetchval(
            "SELECT r.request_id FROM matcher.assignments a "
            "JOIN matcher.requests r USING (request_id) "
            "WHERE a.status = 'offered' AND a.respond_by <= $1 "
            "ORDER BY a.respond_by LIMIT 1 FOR UPDATE OF r SKIP LOCKED",
            now,
        )
        return request_id

    async def erase_contact(self, request_id: UUID) -> None:
        """Drop a contact from a stored request. New rows never hold one (MatchRequest); rows an
        older matcher stored lost theirs in migration 0003, but one still running during a
        rolling upgrade may store one after that, so the erasure looks once more."""
        await self._conn.execute(
            "UPDATE matcher.requests SET request = request - 'contact' "
            "WHERE request_id = $1 AND request ? 'contact'",
            request_id,
        )

    async def close(self, request_id: UUID, status: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.requests SET status = $2, closed_at = now() WHERE request_id = $1",
            request_id,
            status,
        )

    async def add_slots(self, request_id: UUID, slots: Sequence[Slot]) -> None:
        await self._conn.executemany(
            "INSERT INTO matcher.slots (request_id, slot, role, topics) VALUES ($1, $2, $3, $4)",
            [(request_id, s.slot, s.role, list(s.topics)) for s in slots],
        )

    async def slot(self, request_id: UUID, slot: int) -> Slot:
        row = await self._conn.fetchrow(
            "SELECT slot, role, topics FROM matcher.slots WHERE request_id = $1 AND slot = $2",
            request_id,
            slot,
        )
        assert row is not None, f"slot {slot} of {request_id} vanished"
        return Slot(row["slot"], row["role"], tuple(row["topics"]))

    async def set_slot_status(self, request_id: UUID, slot: int, status: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.slots SET status = $3 WHERE request_id = $1 AND slot = $2",
            request_id,
            slot,
            status,
        )


_ASSIGNMENT = "SELECT assignment_id, request_id, partner_id, slot, status, respond_by "


def _assignment(row: asyncpg.Record) -> Assignment:
    return Assignment(
        row["assignment_id"],
        row["request_id"],
        row["partner_id"],
        row["slot"],
        row["status"],
        row["respond_by"],
    )


class PgOfferRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, offer: AssignmentOffered, slot: int) -> bool:
        """False when the partner was already asked for this request, or the slot already has a
        live offer: the unique constraints (see 0002) refuse it, whoever tries."""
        status: str = await self._conn.execute(
            "INSERT INTO matcher.assignments (assignment_id, request_id, partner_id, role, score, "
            "respond_by, slot, partner_name, reasons, covers_topics) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) ON CONFLICT DO NOTHING",
            offer.assignment_id,
            offer.request_id,
            offer.partner_id,
            offer.role.value,
            offer.score,
            offer.respond_by,
            slot,
            offer.partner_name,
            json.dumps(offer.reasons),
            offer.covers_topics,
        )
        return status == "INSERT 0 1"

    async def get(self, assignment_id: UUID) -> Assignment | None:
        row = await self._conn.fetchrow(
            _ASSIGNMENT + "FROM matcher.assignments WHERE assignment_id = $1", assignment_id
        )
        return None if row is None else _assignment(row)

    async def close(self, assignment_id: UUID, status: str, reason: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.assignments SET status = $2, reason = $3, closed_at = now() "
            "WHERE assignment_id = $1",
            assignment_id,
            status,
            reason,
        )

    async def asked_partners(self, request_id: UUID) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT partner_id FROM matcher.assignments WHERE request_id = $1", request_id
        )
        return {r["partner_id"] for r in rows}

    async def open_count(self, request_id: UUID) -> int:
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM matcher.assignments WHERE request_id = $1 AND status = 'offered'",
            request_id,
        )
        return count

    async def accepted(self, request_id: UUID) -> list[tuple[str, list[str]]]:
        """(partner, topics it covers) of every accepted offer, lead first."""
        rows = await self._conn.fetch(
            "SELECT partner_id, covers_topics FROM matcher.assignments "
            "WHERE request_id = $1 AND status = 'accepted' ORDER BY slot",
            request_id,
        )
        return [(r["partner_id"], list(r["covers_topics"] or [])) for r in rows]

    async def due(self, request_id: UUID, now: datetime) -> list[Assignment]:
        rows = await self._conn.fetch(
            _ASSIGNMENT + "FROM matcher.assignments WHERE request_id = $1 AND status = 'offered' "
            "AND respond_by <= $2 ORDER BY slot",
            request_id,
            now,
        )
        return [_assignment(r) for r in rows]

    async def record_response(
        self, ce_id: UUID, response: AssignmentResponse, verdict: str
    ) -> None:
        await self._conn.execute(
            "INSERT INTO matcher.responses (ce_id, assignment_id, partner_id, decision, reason, "
            "verdict) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ce_id) DO NOTHING",
            ce_id,
            response.assignment_id,
            response.partner_id,
            response.decision,
            response.reason,
            verdict,
        )


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

    async def take_capacity(self, partner_id: str) -> bool:
        """One more open assignment for the partner, unless it is inactive or full. The row lock
        this UPDATE takes makes concurrent offers to one partner queue, so the check holds."""
        status: str = await self._conn.execute(
            "UPDATE matcher.partners SET open_assignments = open_assignments + 1 "
            "WHERE partner_id = $1 AND active AND open_assignments < capacity",
            partner_id,
        )
        return status == "UPDATE 1"

    async def release_capacity(self, partner_id: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.partners SET open_assignments = greatest(open_assignments - 1, 0) "
            "WHERE partner_id = $1",
            partner_id,
        )
