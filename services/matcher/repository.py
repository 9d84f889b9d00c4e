"""SQL for matcher's own tables."""

from __future__ import annotations

from shared.db import Conn
from shared.events import AssignmentOffered


async def insert_offer(conn: Conn, offer: AssignmentOffered) -> bool:
    """False when this partner was already asked for this request (redelivery, second replica)."""
    status: str = await conn.execute(
        "INSERT INTO matcher.assignments (assignment_id, request_id, partner_id, role, score, "
        "respond_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, partner_id) "
        "DO NOTHING",
        offer.assignment_id,
        offer.request_id,
        offer.partner_id,
        offer.role.value,
        offer.score,
        offer.respond_by,
    )
    return status == "INSERT 0 1"
