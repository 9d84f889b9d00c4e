"""notifier.endpoints: partners' webhook endpoints, their secrets and their failure record."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.notifier.domain import DisabledEndpoint, Endpoint, EndpointChanges
from services.notifier.repositories.partners import lock_partner
from shared.db import Conn

_COLUMNS = (
    "endpoint_id, partner_id, url, event_types, enabled, disabled_reason, failing_since, "
    "previous_secret_until, created_at, updated_at"
)


def _endpoint(row: asyncpg.Record) -> Endpoint:
    return Endpoint(**dict(row))


class EndpointRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock_partner(self, partner_id: str) -> None:
        await lock_partner(self._conn, partner_id)

    async def count(self, partner_id: str) -> int:
        # Disabled endpoints count (they can be re-enabled); deleted ones do not.
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM notifier.endpoints WHERE partner_id = $1 AND NOT deleted",
            partner_id,
        )
        return count

    async def create(
        self, *, endpoint_id: UUID, partner_id: str, url: str, secret: str, event_types: list[str]
    ) -> None:
        await self._conn.execute(
            "INSERT INTO notifier.endpoints (endpoint_id, partner_id, url, secret, event_types) "
            "VALUES ($1, $2, $3, $4, $5)",
            endpoint_id,
            partner_id,
            url,
            secret,
            event_types,
        )

    async def of_partner(self, partner_id: str) -> list[Endpoint]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM notifier.endpoints "
            "WHERE partner_id = $1 AND NOT deleted ORDER BY created_at",
            partner_id,
        )
        return [_endpoint(r) for r in rows]

    async def get(self, partner_id: str, endpoint_id: UUID) -> Endpoint | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM notifier.endpoints "
            "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
            partner_id,
            endpoint_id,
        )
        return None if row is None else _endpoint(row)

    async def update(
        self, partner_id: str, endpoint_id: UUID, changes: EndpointChanges
    ) -> Endpoint | None:
        """Apply url / event_types / enabled; re-enabling clears the failure record."""
        row = await self._conn.fetchrow(
            "UPDATE notifier.endpoints SET url = coalesce($3, url), "
            "event_types = coalesce($4, event_types), enabled = coalesce($5, enabled), "
            "failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END, "
            "disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, "
            "updated_at = now() "
            f"WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted RETURNING {_COLUMNS}",
            partner_id,
            endpoint_id,
            changes.url,
            changes.event_types,
            changes.enabled,
        )
        return None if row is None else _endpoint(row)

    async def delete(self, partner_id: str, endpoint_id: UUID) -> bool:
        # Soft delete: past deliveries keep pointing at the endpoint (operators' history).
        result: str = await self._conn.execute(
            "UPDATE notifier.endpoints SET deleted = true, enabled = false, updated_at = now() "
            "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
            partner_id,
            endpoint_id,
        )
        return result == "UPDATE 1"

    async def rotate_secret(
        self, partner_id: str, endpoint_id: UUID, *, secret: str, overlap_until: datetime
    ) -> bool:
        # Only the latest previous secret is kept: rotating twice within a window ends the first.
        result: str = await self._conn.execute(
            "UPDATE notifier.endpoints SET previous_secret = secret, previous_secret_until = $4, "
            "secret = $3, updated_at = now() "
            "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
            partner_id,
            endpoint_id,
            secret,
            overlap_until,
        )
        return result == "UPDATE 1"

    async def failed(self, endpoint_id: UUID, now: datetime) -> datetime:
        """Start (or continue) the endpoint's run of failures; returns when it started."""
        since: datetime = await self._conn.fetchval(
            "UPDATE notifier.endpoints SET failing_since = coalesce(failing_since, $2) "
            "WHERE endpoint_id = $1 RETURNING failing_since",
            endpoint_id,
            now,
        )
        return since

    async def succeeded(self, endpoint_id: UUID) -> None:
        await self._conn.execute(
            "UPDATE notifier.endpoints SET failing_since = NULL "
            "WHERE endpoint_id = $1 AND failing_since IS NOT NULL",
            endpoint_id,
        )

    async def disable(self, endpoint_id: UUID, reason: str) -> DisabledEndpoint | None:
        """Disable once: `AND enabled` makes concurrent workers agree on who tells the partner."""
        row = await self._conn.fetchrow(
            "UPDATE notifier.endpoints SET enabled = false, disabled_reason = $2, "
            "updated_at = now() "
            "WHERE endpoint_id = $1 AND enabled RETURNING endpoint_id, partner_id, url",
            endpoint_id,
            reason,
        )
        return None if row is None else DisabledEndpoint(**dict(row))
