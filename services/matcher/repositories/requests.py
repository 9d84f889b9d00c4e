"""Requests being matched and their slots: a request's row is the lock of all work on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from services.matcher.domain import MatchRequest, Slot
from shared.db import Conn


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
