"""SQL for notifier's own tables."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from services.notifier.domain import Endpoint
from shared.db import Conn


async def endpoints_of(conn: Conn, partner_id: str) -> list[Endpoint]:
    rows = await conn.fetch(
        "SELECT endpoint_id, partner_id, event_types FROM notifier.endpoints "
        "WHERE partner_id = $1 AND enabled",
        partner_id,
    )
    return [Endpoint(r["endpoint_id"], r["partner_id"], r["event_types"]) for r in rows]


async def add_delivery(
    conn: Conn,
    *,
    delivery_id: UUID,
    event_id: UUID,
    event_type: str,
    endpoint: Endpoint,
    request_id: UUID | None,
    payload: str,
) -> bool:
    """False when this event already has a delivery to this endpoint (redelivered event)."""
    status: str = await conn.execute(
        "INSERT INTO notifier.deliveries (delivery_id, event_id, event_type, endpoint_id, "
        "partner_id, request_id, payload) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (event_id, endpoint_id) DO NOTHING",
        delivery_id,
        event_id,
        event_type,
        endpoint.endpoint_id,
        endpoint.partner_id,
        request_id,
        payload,
    )
    return status == "INSERT 0 1"


async def claim_due(conn: Conn) -> asyncpg.Record | None:
    """Lock one due delivery. SKIP LOCKED lets every worker (and replica) take a different row,
    and the lock, held until the attempt is recorded, stops a second send in parallel; if the
    process dies mid-send the lock goes with its connection and the row is due again."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT d.delivery_id, d.event_id, d.event_type, d.partner_id, d.request_id, d.payload, "
        "d.attempts, d.created_at, e.url, e.secret FROM notifier.deliveries d "
        "JOIN notifier.endpoints e USING (endpoint_id) "
        "WHERE d.status = 'pending' AND d.next_attempt_at <= now() "
        "ORDER BY d.next_attempt_at FOR UPDATE OF d SKIP LOCKED LIMIT 1"
    )
    return row


async def record_attempt(
    conn: Conn,
    delivery_id: UUID,
    *,
    status: str,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    await conn.execute(
        "UPDATE notifier.deliveries SET attempts = attempts + 1, status = $2, last_error = $3, "
        "next_attempt_at = coalesce($4, next_attempt_at), "
        "delivered_at = CASE WHEN $2 = 'delivered' THEN now() END WHERE delivery_id = $1",
        delivery_id,
        status,
        error,
        next_attempt_at,
    )


async def create_endpoint(
    conn: Conn,
    *,
    endpoint_id: UUID,
    partner_id: str,
    url: str,
    secret: str,
    event_types: list[str],
) -> None:
    await conn.execute(
        "INSERT INTO notifier.endpoints (endpoint_id, partner_id, url, secret, event_types) "
        "VALUES ($1, $2, $3, $4, $5)",
        endpoint_id,
        partner_id,
        url,
        secret,
        event_types,
    )


async def list_endpoints(conn: Conn, partner_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT endpoint_id, url, event_types, enabled, created_at FROM notifier.endpoints "
            "WHERE partner_id = $1 ORDER BY created_at",
            partner_id,
        )
    )
