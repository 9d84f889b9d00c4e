"""SQL for matcher's offer saga: requests, slots, assignments, answers, partner load.

The partner registry's own SQL is in partner_repository.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from services.matcher.domain import MatchRequest
from shared.db import Conn
from shared.events import AssignmentOffered, AssignmentResponse


@dataclass(frozen=True)
class Assignment:
    assignment_id: UUID
    request_id: UUID
    partner_id: str
    slot: int | None
    status: str
    respond_by: datetime


@dataclass(frozen=True)
class Slot:
    slot: int
    role: str
    topics: tuple[str, ...]


async def insert_request(conn: Conn, request: MatchRequest) -> bool:
    """False when the request is already known (intake re-emitted it with another ce_id).
    Only what matching reads is stored: never the Party's contact."""
    status: str = await conn.execute(
        "INSERT INTO matcher.requests (request_id, request) VALUES ($1, $2::jsonb) "
        "ON CONFLICT (request_id) DO NOTHING",
        request.request_id,
        request.model_dump_json(),
    )
    return status == "INSERT 0 1"


async def lock_request(conn: Conn, request_id: UUID) -> tuple[MatchRequest, str] | None:
    """The request and its status, row-locked until the transaction ends: all work on one
    request (answers, expiry, every replica) happens one transaction at a time."""
    row = await conn.fetchrow(
        "SELECT request, status FROM matcher.requests WHERE request_id = $1 FOR UPDATE", request_id
    )
    if row is None:
        return None
    return MatchRequest.model_validate_json(row["request"]), row["status"]


async def erase_contact(conn: Conn, request_id: UUID) -> None:
    """Drop a contact from a stored request. New rows never hold one (MatchRequest); rows an
    older matcher stored lost theirs in migration 0004, but one still running during a rolling
    upgrade may store one after that, so the erasure looks once more."""
    await conn.execute(
        "UPDATE matcher.requests SET request = request - 'contact' "
        "WHERE request_id = $1 AND request ? 'contact'",
        request_id,
    )


async def close_request(conn: Conn, request_id: UUID, status: str) -> None:
    await conn.execute(
        "UPDATE matcher.requests SET status = $2, closed_at = now() WHERE request_id = $1",
        request_id,
        status,
    )


async def insert_slots(conn: Conn, request_id: UUID, slots: Sequence[Slot]) -> None:
    await conn.executemany(
        "INSERT INTO matcher.slots (request_id, slot, role, topics) VALUES ($1, $2, $3, $4)",
        [(request_id, s.slot, s.role, list(s.topics)) for s in slots],
    )


async def get_slot(conn: Conn, request_id: UUID, slot: int) -> Slot:
    row = await conn.fetchrow(
        "SELECT slot, role, topics FROM matcher.slots WHERE request_id = $1 AND slot = $2",
        request_id,
        slot,
    )
    assert row is not None, f"slot {slot} of {request_id} vanished"
    return Slot(row["slot"], row["role"], tuple(row["topics"]))


async def set_slot_status(conn: Conn, request_id: UUID, slot: int, status: str) -> None:
    await conn.execute(
        "UPDATE matcher.slots SET status = $3 WHERE request_id = $1 AND slot = $2",
        request_id,
        slot,
        status,
    )


async def insert_offer(conn: Conn, offer: AssignmentOffered, slot: int) -> bool:
    """False when the partner was already asked for this request, or the slot already has a
    live offer: the unique constraints (see 0002) refuse it, whoever tries."""
    status: str = await conn.execute(
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


async def find_assignment(conn: Conn, assignment_id: UUID) -> Assignment | None:
    row = await conn.fetchrow(
        _ASSIGNMENT + "FROM matcher.assignments WHERE assignment_id = $1", assignment_id
    )
    return None if row is None else _assignment(row)


async def close_assignment(conn: Conn, assignment_id: UUID, status: str, reason: str) -> None:
    await conn.execute(
        "UPDATE matcher.assignments SET status = $2, reason = $3, closed_at = now() "
        "WHERE assignment_id = $1",
        assignment_id,
        status,
        reason,
    )


async def asked_partners(conn: Conn, request_id: UUID) -> set[str]:
    rows = await conn.fetch(
        "SELECT partner_id FROM matcher.assignments WHERE request_id = $1", request_id
    )
    return {r["partner_id"] for r in rows}


async def open_offer_count(conn: Conn, request_id: UUID) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM matcher.assignments WHERE request_id = $1 AND status = 'offered'",
        request_id,
    )
    return count


async def accepted(conn: Conn, request_id: UUID) -> list[tuple[str, list[str]]]:
    rows = await conn.fetch(
        "SELECT partner_id, covers_topics FROM matcher.assignments "
        "WHERE request_id = $1 AND status = 'accepted' ORDER BY slot",
        request_id,
    )
    return [(r["partner_id"], list(r["covers_topics"] or [])) for r in rows]


async def claim_due_request(conn: Conn, now: datetime) -> UUID | None:
    """A request with an offer past its deadline, row-locked; SKIP LOCKED lets every replica's
    expiry worker (and the answer handlers holding a request) work on different requests."""
    request_id: UUID | None = await conn.fetchval(
        "SELECT r.request_id FROM matcher.assignments a "
        "JOIN matcher.requests r USING (request_id) "
        "WHERE a.status = 'offered' AND a.respond_by <= $1 "
        "ORDER BY a.respond_by LIMIT 1 FOR UPDATE OF r SKIP LOCKED",
        now,
    )
    return request_id


async def due_offers(conn: Conn, request_id: UUID, now: datetime) -> list[Assignment]:
    rows = await conn.fetch(
        _ASSIGNMENT + "FROM matcher.assignments WHERE request_id = $1 AND status = 'offered' "
        "AND respond_by <= $2 ORDER BY slot",
        request_id,
        now,
    )
    return [_assignment(r) for r in rows]


async def record_response(
    conn: Conn, ce_id: UUID, response: AssignmentResponse, verdict: str
) -> None:
    await conn.execute(
        "INSERT INTO matcher.responses (ce_id, assignment_id, partner_id, decision, reason, "
        "verdict) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ce_id) DO NOTHING",
        ce_id,
        response.assignment_id,
        response.partner_id,
        response.decision,
        response.reason,
        verdict,
    )


# ----------------------------------------------------------------------------- partner load


async def open_counts(conn: Conn, partner_ids: Sequence[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT partner_id, open_assignments FROM matcher.partners "
        "WHERE partner_id = ANY($1::text[]) AND open_assignments > 0",
        list(partner_ids),
    )
    return {r["partner_id"]: r["open_assignments"] for r in rows}


async def take_capacity(conn: Conn, partner_id: str) -> bool:
    """One more open assignment for the partner, unless it is inactive or full. The row lock
    this UPDATE takes makes concurrent offers to one partner queue, so the check holds."""
    status: str = await conn.execute(
        "UPDATE matcher.partners SET open_assignments = open_assignments + 1 "
        "WHERE partner_id = $1 AND active AND open_assignments < capacity",
        partner_id,
    )
    return status == "UPDATE 1"


async def release_capacity(conn: Conn, partner_id: str) -> None:
    await conn.execute(
        "UPDATE matcher.partners SET open_assignments = greatest(open_assignments - 1, 0) "
        "WHERE partner_id = $1",
        partner_id,
    )
