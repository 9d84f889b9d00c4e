"""Closing a request (brief §7.2): its submitter, with feedback, or an operator. intake checks
who may and when, then asks matcher, which owns the request's state, with ta.request.closing;
matcher answers ta.request.closed."""

from __future__ import annotations

from uuid import UUID

from services.intake.domain.errors import NotClosable
from services.intake.domain.model import SOURCE, Clock, Note, TimelineEntry
from services.intake.handlers.views import request_view
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.envelope import build_record
from shared.events import ClosedBy, RequestClosing

# Nobody works on the request any more, or ever will: it waits, went unmatched, or was done.
CLOSABLE = frozenset({"waiting", "unmatched", "completed"})


async def ask_closing(
    uow: IntakeUnitOfWork,
    request_id: UUID,
    *,
    closed_by: ClosedBy,
    submitter: str | None,
    rating: int | None,
    comment: str,
    clock: Clock,
) -> bool:
    """Queue the closing for matcher; False when it was asked for before (nothing new is
    emitted). UnknownRequest when it is not the submitter's; NotClosable while partners work on
    it (or are being asked to)."""
    view = await request_view(uow, request_id, only_of=submitter)
    if view.status == "closed":
        return False
    if view.status not in CLOSABLE:
        raise NotClosable(f"the request is {view.status}: it closes once nobody works on it")
    now = clock()
    if not await uow.requests.ask_closing(request_id, now):
        return False
    closing = RequestClosing(
        request_id=request_id, closed_by=closed_by, rating=rating, comment=comment
    )
    record = build_record(closing, source=SOURCE, subject=str(request_id), time=now)
    await uow.emit([record])
    rated = f", rated {rating}/5" if rating is not None else ""
    entry = TimelineEntry(now, closing.ce_type, None, f"closing asked by the {closed_by}{rated}")
    await uow.timeline.add(Note(record.ce_id, request_id, entry))
    return True
