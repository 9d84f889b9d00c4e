"""The requesting Parties: their contact (a row of notifier.contacts keyed by request) and the
notices waiting for it (notifier.requester_pending)."""

from __future__ import annotations

from uuid import UUID

from services.notifier.domain import PendingNotice, RequesterContact
from shared.db import Conn


class RequesterRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock(self, request_id: UUID) -> None:
        """Serialise the two consumers that meet at a requester (the contact arriving on
        ta.requests.v1, notices for it on ta.assignments.v1): without it each could miss the
        other's uncommitted row and a notice would wait forever. Held until the transaction
        ends."""
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('notifier.requester'), hashtext($1))",
            str(request_id),
        )

    async def save_contact(
        self,
        *,
        contact_id: UUID,
        request_id: UUID,
        party: str,
        email: str,
        name: str,
        language: str,
    ) -> None:
        # The unique index on request_id makes a redelivered ta.request.accepted a no-op.
        await self._conn.execute(
            "INSERT INTO notifier.contacts (contact_id, request_id, party, email, name, "
            "language) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            contact_id,
            request_id,
            party,
            email,
            name,
            language,
        )

    async def contact(self, request_id: UUID) -> RequesterContact | None:
        row = await self._conn.fetchrow(
            "SELECT contact_id, party, enabled FROM notifier.contacts WHERE request_id = $1",
            request_id,
        )
        return None if row is None else RequesterContact(**dict(row))

    async def erase(self, contact_id: UUID, request_id: UUID) -> None:
        """Blank the Party's contact, keeping the row as a tombstone: deliveries reference it,
        and its unique request_id stops a replayed ta.request.accepted from recording it again.
        Made even when the contact never arrived, for the same reason."""
        await self._conn.execute(
            "INSERT INTO notifier.contacts (contact_id, request_id, email, name, enabled) "
            "VALUES ($1, $2, '', '', false) "
            "ON CONFLICT (request_id) WHERE request_id IS NOT NULL "
            "DO UPDATE SET email = '', name = '', enabled = false",
            contact_id,
            request_id,
        )

    async def add_pending(
        self, request_id: UUID, event_id: UUID, event_type: str, payload: str
    ) -> None:
        await self._conn.execute(
            "INSERT INTO notifier.requester_pending (request_id, event_id, event_type, payload) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            request_id,
            event_id,
            event_type,
            payload,
        )

    async def take_pending(self, request_id: UUID) -> list[PendingNotice]:
        rows = await self._conn.fetch(
            "DELETE FROM notifier.requester_pending WHERE request_id = $1 "
            "RETURNING event_id, event_type, payload",
            request_id,
        )
        return [PendingNotice(**dict(r)) for r in rows]

    async def drop_pending(self, request_id: UUID) -> None:
        await self._conn.execute(
            "DELETE FROM notifier.requester_pending WHERE request_id = $1", request_id
        )
