"""Partner answers to offers: recorded once per assignment, emitted as ta.assignment.response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from services.intake import repository
from services.intake.handlers import SOURCE, IntakeDeps
from shared.envelope import build_record
from shared.events import AssignmentResponse

Decision = Literal["accept", "decline"]


class UnknownAssignment(Exception):  # noqa: N818 - HTTP 404: intake has not seen this offer
    pass


class NotYourAssignment(Exception):  # noqa: N818 - HTTP 403: offered to another partner
    pass


class AnswerConflict(Exception):  # noqa: N818 - HTTP 409: contradicts an answer or the offer's end
    pass


@dataclass(frozen=True)
class Answered:
    assignment_id: UUID
    decision: Decision
    created: bool  # False when the same answer had been recorded before


async def answer_offer(
    deps: IntakeDeps, *, assignment_id: UUID, partner_id: str, decision: Decision, reason: str
) -> Answered:
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await repository.lock_assignment(conn, assignment_id)
        if row is None:
            raise UnknownAssignment
        if row["partner_id"] != partner_id:
            raise NotYourAssignment
        earlier = await repository.get_answer(conn, assignment_id)  # read after the lock
        if earlier is not None:
            if earlier != decision:
                raise AnswerConflict(f"already answered {earlier}")
            return Answered(assignment_id, decision, created=False)
        if row["status"] == "expired":
            raise AnswerConflict("the offer has expired")
        response = AssignmentResponse(
            assignment_id=assignment_id, partner_id=partner_id, decision=decision, reason=reason
        )
        now = deps.clock()
        record = build_record(response, source=SOURCE, subject=str(row["request_id"]), time=now)
        # Answer row, outbox row and timeline entry commit together: answered ⇔ emitted.
        await repository.insert_answer(
            conn,
            assignment_id=assignment_id,
            partner_id=partner_id,
            decision=decision,
            reason=reason,
            ce_id=record.ce_id,
            at=now,
        )
        await deps.outbox.add(conn, [record])
        await repository.add_timeline(
            conn,
            ce_id=record.ce_id,
            request_id=row["request_id"],
            at=now,
            event_type=response.ce_type,
            partner_id=partner_id,
            summary=f"{partner_id} answered {decision}" + (f": {reason}" if reason else ""),
        )
    return Answered(assignment_id, decision, created=True)
