"""SQL for intake's own tables."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.db import Conn
from shared.events import RequestAccepted


async def find_by_ref(conn: Conn, submitter: str, external_ref: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT request_id, body_hash FROM intake.requests "
        "WHERE submitter = $1 AND external_ref = $2",
        submitter,
        external_ref,
    )
    return row


async def insert_request(conn: Conn, event: RequestAccepted, body_hash: str) -> bool:
    """False if (submitter, external_ref) was recorded meanwhile by a concurrent submission."""
    status: str = await conn.execute(
        "INSERT INTO intake.requests (request_id, submitter, external_ref, body_hash, party, "
        "status, submission, accepted_at) VALUES ($1, $2, $3, $4, $5, 'accepted', $6::jsonb, $7) "
        "ON CONFLICT (submitter, external_ref) DO NOTHING",
        event.request_id,
        event.submitter,
        event.external_ref,
        body_hash,
        event.party,
        event.model_dump_json(),
        event.accepted_at,
    )
    return status == "INSERT 0 1"


async def get_status(conn: Conn, request_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT request_id, status, submitter, accepted_at FROM intake.requests "
        "WHERE request_id = $1",
        request_id,
    )
    return row
