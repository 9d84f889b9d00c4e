"""Offers made to partners (assignments) and every answer received."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from services.matcher.domain import Assignment
from shared.db import Conn
from shared.events import AssignmentOffered, AssignmentResponse

_ASSIGNMENT = "SELECT assignment_id, request_id, partner_id, slot, status, respond_by, role "


def _assignment(row: asyncpg.Record) -> Assignment:
    return Assignment(
        row["assignment_id"],
        row["request_id"],
        row["partner_id"],
        row["slot"],
        row["status"],
        row["respond_by"],
        row["role"],
    )


class PgOfferRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add(self, offers: Sequence[tuple[AssignmentOffered, int]]) -> set[UUID]:
        """Store each offer for its slot, in one statement; the ids of those stored. An offer is
        left out when its partner was already asked for the request, or its slot already has a
        live offer (an earlier one of `offers` included): the unique constraints (see 0002)
        refuse it, whoever tries."""
        rows = await self._conn.fetch(
            "INSERT INTO matcher.assignments (assignment_id, request_id, partner_id, role, score, "
            "respond_by, slot, partner_name, reasons, covers_topics) "
            "SELECT a, q, p, r, s, b, n, pn, rs, ARRAY(SELECT jsonb_array_elements_text(ct)) "
            "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::float8[], "
            "$6::timestamptz[], $7::int[], $8::text[], $9::jsonb[], $10::jsonb[]) "
            "WITH ORDINALITY AS u(a, q, p, r, s, b, n, pn, rs, ct, i) ORDER BY i "
            "ON CONFLICT DO NOTHING RETURNING assignment_id",
            [o.assignment_id for o, _ in offers],
            [o.request_id for o, _ in offers],
            [o.partner_id for o, _ in offers],
            [o.role.value for o, _ in offers],
            [o.score for o, _ in offers],
            [o.respond_by for o, _ in offers],
            [slot for _, slot in offers],
            [o.partner_name for o, _ in offers],
            [json.dumps(o.reasons) for o, _ in offers],
            [json.dumps(o.covers_topics) for o, _ in offers],
        )
        return {r["assignment_id"] for r in rows}

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

    async def start(self, assignment_id: UUID) -> None:
        await self._conn.execute(
            "UPDATE matcher.assignments SET status = 'started', started_at = now() "
            "WHERE assignment_id = $1",
            assignment_id,
        )

    async def complete(self, assignment_id: UUID, outcome: str, deliverables: list[str]) -> None:
        await self._conn.execute(
            "UPDATE matcher.assignments SET status = 'completed', outcome = $2, "
            "deliverables = $3, closed_at = now() WHERE assignment_id = $1",
            assignment_id,
            outcome,
            deliverables,
        )

    async def live_count(self, request_id: UUID) -> int:
        """Offers open and work accepted or started: what keeps a request from completing."""
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM matcher.assignments WHERE request_id = $1 "
            "AND status IN ('offered', 'accepted', 'started')",
            request_id,
        )
        return count

    async def completed_partners(self, request_id: UUID) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT partner_id FROM matcher.assignments "
            "WHERE request_id = $1 AND status = 'completed' ORDER BY slot",
            request_id,
        )
        return [r["partner_id"] for r in rows]

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
        """(partner, topics it covers) of every accepted offer (since started or completed too),
        lead first."""
        rows = await self._conn.fetch(
            "SELECT partner_id, covers_topics FROM matcher.assignments "
            "WHERE request_id = $1 AND status IN ('accepted', 'started', 'completed') "
            "ORDER BY slot",
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
