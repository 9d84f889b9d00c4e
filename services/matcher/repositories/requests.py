"""Requests being matched and their slots: a request's row is the lock of all work on it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.matcher.domain import MatchRequest, Slot
from shared.db import Conn
from shared.events import ClosedBy, Urgency


class PgRequestRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, request: MatchRequest) -> bool:
        """False when the request is already known (intake re-emitted it with another ce_id).
        Only what matching reads is stored: never the Party's contact."""
        status: str = await self._conn.execute(
            "INSERT INTO matcher.requests (request_id, request, urgent) VALUES ($1, $2::jsonb, $3) "
            "ON CONFLICT (request_id) DO NOTHING",
            request.request_id,
            request.model_dump_json(),
            request.urgency is Urgency.URGENT,
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
            "UPDATE matcher.requests SET request = request - 'contact', comment = NULL "
            "WHERE request_id = $1 AND (request ? 'contact' OR comment IS NOT NULL)",
            request_id,
        )

    async def close(self, request_id: UUID, status: str) -> None:
        await self._conn.execute(
            "UPDATE matcher.requests SET status = $2, closed_at = now() WHERE request_id = $1",
            request_id,
            status,
        )

    async def add_slots(self, request_id: UUID, slots: Sequence[Slot]) -> None:
        # One statement for all of them (each slot's topics as a JSON array: unnest would
        # flatten a two-dimensional text[]).
        await self._conn.execute(
            "INSERT INTO matcher.slots (request_id, slot, role, topics) "
            "SELECT $1, s, r, ARRAY(SELECT jsonb_array_elements_text(t)) "
            "FROM unnest($2::int[], $3::text[], $4::jsonb[]) AS u(s, r, t)",
            request_id,
            [s.slot for s in slots],
            [s.role for s in slots],
            [json.dumps(list(s.topics)) for s in slots],
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

    async def status(self, request_id: UUID) -> str:
        found: str | None = await self._conn.fetchval(
            "SELECT status FROM matcher.requests WHERE request_id = $1", request_id
        )
        assert found is not None, f"request {request_id} vanished"
        return found

    async def set_status(self, request_id: UUID, status: str) -> None:
        """Back to matching (a withdrawal re-opened a slot, or a waiting request was served)."""
        await self._conn.execute(
            "UPDATE matcher.requests SET status = $2, closed_at = NULL, waiting_since = NULL, "
            "waiting_for = '{}' WHERE request_id = $1",
            request_id,
            status,
        )

    async def wait(
        self, request_id: UUID, partners: Sequence[str], now: datetime, *, replace: bool
    ) -> bool:
        """Waiting for `partners` (all full), instead of or besides whom it waited for; True
        when it only began to wait now. (The self-join reads the row as it was before.)"""
        was: str = await self._conn.fetchval(
            "UPDATE matcher.requests r SET status = 'waiting', "
            "waiting_for = CASE WHEN $4 OR old.status <> 'waiting' THEN $2::text[] ELSE "
            "ARRAY(SELECT DISTINCT unnest(old.waiting_for || $2::text[])) END, "
            "waiting_since = coalesce(old.waiting_since, $3) FROM matcher.requests old "
            "WHERE r.request_id = $1 AND old.request_id = r.request_id RETURNING old.status",
            request_id,
            list(partners),
            now,
            replace,
        )
        return was != "waiting"

    async def claim_waiting(
        self, partner_ids: Sequence[str] | None, skip: Sequence[UUID]
    ) -> UUID | None:
        """The first waiting request (urgent before routine, then oldest) that one of the
        partners it waits for now has room for; only requests waiting for `partner_ids` when
        given. Row-locked, SKIP LOCKED: replicas serve different requests."""
        request_id: UUID | None = await self._conn.fetchval(
            "SELECT r.request_id FROM matcher.requests r WHERE r.status = 'waiting' "
            "AND r.request_id <> ALL($2::uuid[]) "
            "AND ($1::text[] IS NULL OR r.waiting_for && $1::text[]) "
            "AND EXISTS (SELECT 1 FROM matcher.partners p WHERE p.partner_id = ANY(r.waiting_for) "
            "AND p.active AND p.open_assignments < p.capacity) "
            "ORDER BY r.urgent DESC, r.created_at LIMIT 1 FOR UPDATE OF r SKIP LOCKED",
            None if partner_ids is None else list(partner_ids),
            list(skip),
        )
        return request_id

    async def claim_overdue_waiting(self, waited_since: datetime) -> UUID | None:
        """A request waiting since before `waited_since`: it has waited its longest."""
        request_id: UUID | None = await self._conn.fetchval(
            "SELECT request_id FROM matcher.requests WHERE status = 'waiting' "
            "AND waiting_since <= $1 ORDER BY waiting_since LIMIT 1 FOR UPDATE SKIP LOCKED",
            waited_since,
        )
        return request_id

    async def count_waiting(self) -> int:
        """How many requests wait for a partner with room (the waiting queue's partial index)."""
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM matcher.requests WHERE status = 'waiting'"
        )
        return count

    async def record_closure(
        self, request_id: UUID, closed_by: ClosedBy, rating: int | None, comment: str
    ) -> None:
        await self._conn.execute(
            "UPDATE matcher.requests SET status = 'closed', closed_at = now(), closed_by = $2, "
            "rating = $3, comment = $4, waiting_for = '{}' WHERE request_id = $1",
            request_id,
            closed_by,
            rating,
            comment,
        )

    async def slots_in(self, request_id: UUID, status: str) -> list[int]:
        rows = await self._conn.fetch(
            "SELECT slot FROM matcher.slots WHERE request_id = $1 AND status = $2 ORDER BY slot",
            request_id,
            status,
        )
        return [r["slot"] for r in rows]

    async def has_slots(self, request_id: UUID) -> bool:
        found: bool = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM matcher.slots WHERE request_id = $1)", request_id
        )
        return found
