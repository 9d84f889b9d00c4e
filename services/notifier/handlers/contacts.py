"""Partners' e-mail contacts: create (within quota), list, delete; the configured Secretariat
address as a contact."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from services.notifier import domain
from services.notifier.domain import Contact, NotFound
from services.notifier.handlers.endpoints import refuse_over_quota
from services.notifier.unit_of_work import NotifierUnitOfWork


async def create_contact(
    uow: NotifierUnitOfWork,
    quotas: domain.Quotas,
    *,
    partner_id: str,
    email: str,
    name: str,
    language: str,
    event_types: list[str],
) -> Contact:
    """Raises OverQuota when the partner has as many contacts as it may."""
    await uow.contacts.lock_partner(partner_id)  # the count below stays true until commit
    have = await uow.contacts.count(partner_id)
    refuse_over_quota(domain.over_quota("contacts", have, quotas.contacts))
    return await uow.contacts.create(
        contact_id=uuid4(),
        partner_id=partner_id,
        email=email,
        name=name,
        language=language,
        event_types=event_types,
    )


async def list_contacts(uow: NotifierUnitOfWork, partner_id: str) -> list[Contact]:
    return await uow.contacts.of_partner(partner_id)


async def delete_contact(uow: NotifierUnitOfWork, partner_id: str, contact_id: UUID) -> None:
    if not await uow.contacts.delete(partner_id, contact_id):
        raise NotFound("contact")


async def configure_secretariat(uow: NotifierUnitOfWork, email: str) -> None:
    """STAX_NOTIFIER_SECRETARIAT_EMAIL becomes a contact of partner 'secretariat', with an id
    derived from the address, so restarts add nothing."""
    await uow.contacts.ensure(
        contact_id=uuid5(NAMESPACE_URL, f"stax:secretariat:{email}"),
        partner_id=domain.SECRETARIAT,
        email=email,
    )
