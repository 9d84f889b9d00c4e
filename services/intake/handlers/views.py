"""What callers read: a request with its timeline, a partner's offers."""

from __future__ import annotations

from uuid import UUID

from services.intake.domain.errors import UnknownRequest
from services.intake.domain.model import PartnerOffer, TrackedRequest
from services.intake.unit_of_work import IntakeUnitOfWork


async def request_view(
    uow: IntakeUnitOfWork, request_id: UUID, *, only_of: str | None
) -> TrackedRequest:
    """The request and its timeline; with `only_of`, only if that submitter sent it: another's
    request is "no such request", its existence is not shared."""
    view = await uow.requests.view(request_id)
    if view is None or (only_of is not None and view.submitter != only_of):
        raise UnknownRequest(str(request_id))
    return view


async def partner_offers(
    uow: IntakeUnitOfWork, partner_id: str
) -> tuple[list[PartnerOffer], list[PartnerOffer]]:
    """The partner's offers, newest first: (open, past)."""
    offers = await uow.assignments.of_partner(partner_id)
    return [o for o in offers if o.is_open], [o for o in offers if not o.is_open]
