"""SQL for intake's own tables (schema `intake`); callers own the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from shared.db import Conn
from shared.events import AssignmentOffered, RequestAccepted

# --- requests and idempotency -------------------------------------------------------------


async def find_by_ref(conn: Conn, submitter: str, external_ref: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT request_id, body_hash FROM intake.requests "
        "WHERE submitter = $1 AND external_ref = $2",
        submitter,
        external_ref,
    )
    return row


async def find_by_idempotency_key(conn: Conn, submitter: str, key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT request_id, body_hash FROM intake.idempotency_keys "
        "WHERE submitter = $1 AND idempotency_key = $2",
        submitter,
        key,
    )
    return row


async def insert_request(
    conn: Conn,
    event: RequestAccepted,
    body_hash: str,
    *,
    ce_id: UUID,
    summary: str,
    outcomes_topic: str | None = None,
) -> bool:
    """Record an accepted request and its first timeline entry (ce_id: its accepted event's).

    False if (submitter, external_ref) is taken; a concurrent twin's INSERT makes this one wait
    for its commit, so the caller can then read the winner. One statement, one round trip."""
    status: str = await conn.execute(
        "WITH r AS ("
        " INSERT INTO intake.requests (request_id, submitter, external_ref, body_hash, party,"
        " status, submission, accepted_at, outcomes_topic)"
        " VALUES ($1, $2, $3, $4, $5, 'accepted', $6::jsonb, $7, $11)"
        " ON CONFLICT (submitter, external_ref) DO NOTHING RETURNING request_id, accepted_at) "
        "INSERT INTO intake.timeline (ce_id, request_id, at, event_type, summary) "
        "SELECT $8, request_id, accepted_at, $9, $10 FROM r",
        event.request_id,
        event.submitter,
        event.external_ref,
        body_hash,
        event.party,
        event.model_dump_json(),
        event.accepted_at,
        ce_id,
        event.ce_type,
        summary,
        outcomes_topic,
    )
    return status == "INSERT 0 1"


async def outcomes_topic_of(conn: Conn, request_id: UUID) -> str | None:
    """Where a request's events are copied for its submitter (tenant submissions only)."""
    topic: str | None = await conn.fetchval(
        "SELECT outcomes_topic FROM intake.requests WHERE request_id = $1", request_id
    )
    return topic


async def insert_idempotency_key(
    conn: Conn, submitter: str, key: str, request_id: UUID, body_hash: str
) -> bool:
    status: str = await conn.execute(
        "INSERT INTO intake.idempotency_keys (submitter, idempotency_key, request_id, body_hash) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        submitter,
        key,
        request_id,
        body_hash,
    )
    return status == "INSERT 0 1"


async def get_request(conn: Conn, request_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT request_id, status, submitter, external_ref, party, accepted_at "
        "FROM intake.requests WHERE request_id = $1",
        request_id,
    )
    return row


async def set_status(conn: Conn, request_id: UUID, status: str, *, only_from: str | None) -> None:
    """Move a request to `status` (from `only_from` only, when given)."""
    await conn.execute(
        "UPDATE intake.requests SET status = $2 "
        "WHERE request_id = $1 AND ($3::text IS NULL OR status = $3)",
        request_id,
        status,
        only_from,
    )


# --- erasure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureState:
    erased_at: datetime | None


async def lock_erasure(conn: Conn, request_id: UUID) -> ErasureState | None:
    """The request's erasure time (None: not erased), row-locked; None if no such request."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT erased_at FROM intake.requests WHERE request_id = $1 FOR UPDATE", request_id
    )
    return None if row is None else ErasureState(row["erased_at"])


async def erase_contact(conn: Conn, request_id: UUID, *, erased_at: datetime) -> None:
    """Drop the contact from the stored submission (nothing else in it is personal data)."""
    await conn.execute(
        "UPDATE intake.requests SET submission = submission - 'contact', "
        "erased_at = coalesce(erased_at, $2) WHERE request_id = $1",
        request_id,
        erased_at,
    )


async def is_erased(conn: Conn, request_id: UUID) -> bool:
    erased: bool | None = await conn.fetchval(
        "SELECT erased_at IS NOT NULL FROM intake.requests WHERE request_id = $1", request_id
    )
    return bool(erased)


async def redact_notification_errors(conn: Conn, request_id: UUID) -> None:
    """Timeline entries of failed notifications quote the error, which may name the Party
    contact's address: keep that it failed, drop why."""
    await conn.execute(
        "UPDATE intake.timeline SET summary = split_part(summary, ': ', 1) || ': (erased)' "
        "WHERE request_id = $1 AND event_type = 'ta.notification.failed'",
        request_id,
    )


# --- timeline -------------------------------------------------------------------------------


async def add_timeline(
    conn: Conn,
    *,
    ce_id: UUID,
    request_id: UUID,
    at: datetime,
    event_type: str,
    summary: str,
    partner_id: str | None = None,
) -> None:
    # ON CONFLICT: intake writes its own events here when it emits them and sees them again
    # when it consumes them; one entry per ce_id either way.
    await conn.execute(
        "INSERT INTO intake.timeline (ce_id, request_id, at, event_type, partner_id, summary) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ce_id) DO NOTHING",
        ce_id,
        request_id,
        at,
        event_type,
        partner_id,
        summary,
    )


async def get_timeline(conn: Conn, request_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT at, event_type, partner_id, summary FROM intake.timeline "
        "WHERE request_id = $1 ORDER BY at, ce_id",
        request_id,
    )
    return rows


# --- assignments and answers ----------------------------------------------------------------


async def record_offer(conn: Conn, offer: AssignmentOffered, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO intake.assignments (assignment_id, request_id, partner_id, partner_name, "
        "role, score, respond_by, offered_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (assignment_id) DO NOTHING",
        offer.assignment_id,
        offer.request_id,
        offer.partner_id,
        offer.partner_name,
        offer.role.value,
        offer.score,
        offer.respond_by,
        at,
    )


async def set_assignment_status(conn: Conn, assignment_id: UUID, status: str) -> None:
    await conn.execute(
        "UPDATE intake.assignments SET status = $2, updated_at = now() WHERE assignment_id = $1",
        assignment_id,
        status,
    )


async def lock_assignment(conn: Conn, assignment_id: UUID) -> asyncpg.Record | None:
    # FOR UPDATE: two answers to one offer racing each other are serialised here; the second
    # then reads the first's answer (get_answer, a later statement, sees the committed row).
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT assignment_id, request_id, partner_id, status FROM intake.assignments "
        "WHERE assignment_id = $1 FOR UPDATE",
        assignment_id,
    )
    return row


async def get_answer(conn: Conn, assignment_id: UUID) -> str | None:
    """The decision already recorded for this offer, if any."""
    decision: str | None = await conn.fetchval(
        "SELECT decision FROM intake.assignment_answers WHERE assignment_id = $1", assignment_id
    )
    return decision


async def insert_answer(
    conn: Conn,
    *,
    assignment_id: UUID,
    partner_id: str,
    decision: str,
    reason: str,
    ce_id: UUID,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO intake.assignment_answers "
        "(assignment_id, partner_id, decision, reason, ce_id, answered_at) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        assignment_id,
        partner_id,
        decision,
        reason,
        ce_id,
        at,
    )


async def partner_assignments(conn: Conn, partner_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT a.assignment_id, a.request_id, a.partner_name, a.role, a.score, a.respond_by, "
        "a.status, a.offered_at, w.decision, w.answered_at "
        "FROM intake.assignments a LEFT JOIN intake.assignment_answers w USING (assignment_id) "
        "WHERE a.partner_id = $1 ORDER BY a.offered_at DESC LIMIT 500",
        partner_id,
    )
    return rows
