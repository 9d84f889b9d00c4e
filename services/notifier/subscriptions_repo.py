"""SQL for partners' subscriptions: webhook endpoints, e-mail contacts, the Kafka channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Conn

_ENDPOINT_COLUMNS = (
    "endpoint_id, partner_id, url, event_types, enabled, disabled_reason, failing_since, "
    "previous_secret_until, created_at, updated_at"
)


async def lock_partner(conn: Conn, partner_id: str) -> None:
    """Serialise the creation of one partner's endpoints and contacts until the transaction
    ends, so that a quota count and the insert after it see every row created before. Row
    locks cannot do this (nothing locks rows not inserted yet, and a partner may have none),
    nor one INSERT … SELECT count (two of them, under READ COMMITTED, count the same rows)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('notifier.partner'), hashtext($1))", partner_id
    )


async def count_endpoints(conn: Conn, partner_id: str) -> int:
    # Disabled endpoints count (they can be re-enabled); deleted ones do not.
    count: int = await conn.fetchval(
        "SELECT count(*) FROM notifier.endpoints WHERE partner_id = $1 AND NOT deleted",
        partner_id,
    )
    return count


async def count_contacts(conn: Conn, partner_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM notifier.contacts WHERE partner_id = $1 AND enabled", partner_id
    )
    return count


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
            f"SELECT {_ENDPOINT_COLUMNS} FROM notifier.endpoints "
            "WHERE partner_id = $1 AND NOT deleted ORDER BY created_at",
            partner_id,
        )
    )


async def get_endpoint(conn: Conn, partner_id: str, endpoint_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"SELECT {_ENDPOINT_COLUMNS} FROM notifier.endpoints "
        "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
        partner_id,
        endpoint_id,
    )
    return row


async def update_endpoint(
    conn: Conn, partner_id: str, endpoint_id: UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    """Apply url / event_types / enabled; re-enabling clears the failure record."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE notifier.endpoints SET url = coalesce($3, url), "
        "event_types = coalesce($4, event_types), enabled = coalesce($5, enabled), "
        "failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END, "
        "disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, updated_at = now() "
        f"WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted RETURNING {_ENDPOINT_COLUMNS}",
        partner_id,
        endpoint_id,
        changes.get("url"),
        changes.get("event_types"),
        changes.get("enabled"),
    )
    return row


async def delete_endpoint(conn: Conn, partner_id: str, endpoint_id: UUID) -> bool:
    # Soft delete: past deliveries keep pointing at the endpoint (kept for operators' history).
    result: str = await conn.execute(
        "UPDATE notifier.endpoints SET deleted = true, enabled = false, updated_at = now() "
        "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
        partner_id,
        endpoint_id,
    )
    return result == "UPDATE 1"


async def rotate_secret(
    conn: Conn, partner_id: str, endpoint_id: UUID, *, secret: str, overlap_until: datetime
) -> bool:
    # Only the latest previous secret is kept: rotating twice within a window ends the first.
    result: str = await conn.execute(
        "UPDATE notifier.endpoints SET previous_secret = secret, previous_secret_until = $4, "
        "secret = $3, updated_at = now() "
        "WHERE partner_id = $1 AND endpoint_id = $2 AND NOT deleted",
        partner_id,
        endpoint_id,
        secret,
        overlap_until,
    )
    return result == "UPDATE 1"


_CONTACT_COLUMNS = "contact_id, partner_id, email, name, language, event_types, enabled, created_at"


async def create_contact(
    conn: Conn,
    *,
    contact_id: UUID,
    partner_id: str,
    email: str,
    name: str,
    language: str,
    event_types: list[str],
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO notifier.contacts (contact_id, partner_id, email, name, language, "
        f"event_types) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_CONTACT_COLUMNS}",
        contact_id,
        partner_id,
        email,
        name,
        language,
        event_types,
    )
    assert row is not None  # INSERT … RETURNING always yields the row
    return row


async def ensure_contact(conn: Conn, *, contact_id: UUID, partner_id: str, email: str) -> None:
    """The Secretariat's configured address, as a contact; the same id each start."""
    await conn.execute(
        "INSERT INTO notifier.contacts (contact_id, partner_id, email, name) "
        "VALUES ($1, $2, $3, 'configured') ON CONFLICT (contact_id) DO NOTHING",
        contact_id,
        partner_id,
        email,
    )


async def list_contacts(conn: Conn, partner_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"SELECT {_CONTACT_COLUMNS} FROM notifier.contacts WHERE partner_id = $1 "
            "AND enabled ORDER BY created_at",
            partner_id,
        )
    )


async def delete_contact(conn: Conn, partner_id: str, contact_id: UUID) -> bool:
    # Soft delete, like endpoints: deliveries reference the contact.
    result: str = await conn.execute(
        "UPDATE notifier.contacts SET enabled = false WHERE partner_id = $1 AND contact_id = $2 "
        "AND enabled",
        partner_id,
        contact_id,
    )
    return result == "UPDATE 1"


async def put_kafka_channel(
    conn: Conn, partner_id: str, topic: str, event_types: list[str]
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        "INSERT INTO notifier.kafka_channels (partner_id, topic, event_types) VALUES ($1, $2, $3) "
        "ON CONFLICT (partner_id) DO UPDATE SET event_types = $3, enabled = true "
        "RETURNING partner_id, topic, event_types, enabled, created_at",
        partner_id,
        topic,
        event_types,
    )
    assert row is not None  # INSERT … RETURNING always yields the row
    return row


async def get_kafka_channel(conn: Conn, partner_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT partner_id, topic, event_types, enabled, created_at FROM notifier.kafka_channels "
        "WHERE partner_id = $1",
        partner_id,
    )
    return row


async def disable_kafka_channel(conn: Conn, partner_id: str) -> bool:
    result: str = await conn.execute(
        "UPDATE notifier.kafka_channels SET enabled = false WHERE partner_id = $1 AND enabled",
        partner_id,
    )
    return result == "UPDATE 1"
