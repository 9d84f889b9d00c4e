"""The portal's e-mailed sign-in links: asking for one (an event for notifier, which alone
knows the partners' contacts) and using one (once)."""

from __future__ import annotations

from services.intake.domain.errors import LinkUsed
from services.intake.domain.model import SOURCE, Clock
from services.intake.unit_of_work import IntakeUnitOfWork
from shared import sign_in_links
from shared.envelope import build_record
from shared.events import PortalLanguage, PortalSignInRequested
from shared.sign_in_links import SignInLink


async def ask_for_link(
    uow: IntakeUnitOfWork, email: str, language: PortalLanguage, *, clock: Clock
) -> None:
    """Queue the request for notifier. Whether the address belongs to anyone is not known here,
    and the page says the same either way: the portal does not tell who is a contact."""
    digest = sign_in_links.email_digest(email)
    event = PortalSignInRequested(email_sha256=digest, language=language)
    await uow.emit([build_record(event, source=SOURCE, subject=digest, time=clock())])


async def use_link(uow: IntakeUnitOfWork, link: SignInLink, digest: str, *, clock: Clock) -> None:
    """Mark the link used, in the caller's unit; LinkUsed if it was used before."""
    if not await uow.links.use_sign_in(digest, link.partner_id, clock()):
        raise LinkUsed


async def forget_expired_links(uow: IntakeUnitOfWork, *, clock: Clock) -> int:
    """Forget used answer and sign-in links that have expired: they cannot verify again, so
    nothing needs to know they were used."""
    return await uow.links.prune(clock())
