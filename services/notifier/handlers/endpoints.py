"""Partners' webhook endpoints: create (SSRF-checked, within quota), read, change, delete, and
rotate the signing secret.

Creating and changing a URL take the unit's factory: the URL is checked (a DNS lookup) before
the unit opens, so no transaction waits on the network."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from uuid import UUID, uuid4

from services.notifier import domain
from services.notifier.adapters import UrlGuard
from services.notifier.domain import Endpoint, EndpointChanges, NewEndpoint, NotFound, Rotated
from services.notifier.unit_of_work import NotifierUnitOfWork, NotifierUnits


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return domain.KEY_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


async def create_endpoint(
    units: NotifierUnits,
    guard: UrlGuard,
    quotas: domain.Quotas,
    *,
    partner_id: str,
    url: str,
    event_types: list[str],
    secret: str | None,
) -> NewEndpoint:
    """Raises domain.Refused when the URL may not be called (checked again at send time),
    OverQuota when the partner has as many endpoints as it may."""
    await guard.check(url)
    created = NewEndpoint(uuid4(), secret or new_secret())
    async with units() as uow:
        await uow.endpoints.lock_partner(partner_id)  # the count below stays true until commit
        have = await uow.endpoints.count(partner_id)
        refuse_over_quota(domain.over_quota("endpoints", have, quotas.endpoints))
        await uow.endpoints.create(
            endpoint_id=created.endpoint_id,
            partner_id=partner_id,
            url=url,
            secret=created.secret,
            event_types=event_types,
        )
    return created


def refuse_over_quota(why: str | None) -> None:
    if why is not None:
        raise domain.OverQuota(why)


async def list_endpoints(uow: NotifierUnitOfWork, partner_id: str) -> list[Endpoint]:
    return await uow.endpoints.of_partner(partner_id)


async def get_endpoint(uow: NotifierUnitOfWork, partner_id: str, endpoint_id: UUID) -> Endpoint:
    return _found(await uow.endpoints.get(partner_id, endpoint_id))


async def update_endpoint(
    units: NotifierUnits,
    guard: UrlGuard,
    partner_id: str,
    endpoint_id: UUID,
    changes: EndpointChanges,
) -> Endpoint:
    if changes.url is not None:
        await guard.check(changes.url)
    async with units() as uow:
        return _found(await uow.endpoints.update(partner_id, endpoint_id, changes))


async def delete_endpoint(uow: NotifierUnitOfWork, partner_id: str, endpoint_id: UUID) -> None:
    if not await uow.endpoints.delete(partner_id, endpoint_id):
        raise NotFound("endpoint")


async def rotate_secret(
    uow: NotifierUnitOfWork,
    partner_id: str,
    endpoint_id: UUID,
    secret: str | None,
    *,
    overlap_until: datetime,
) -> Rotated:
    """A new secret; the old one keeps signing (a second signature) until `overlap_until`."""
    rotated = Rotated(secret or new_secret(), overlap_until)
    done = await uow.endpoints.rotate_secret(
        partner_id, endpoint_id, secret=rotated.secret, overlap_until=rotated.previous_valid_until
    )
    if not done:
        raise NotFound("endpoint")
    return rotated


def _found(endpoint: Endpoint | None) -> Endpoint:
    if endpoint is None:
        raise NotFound("endpoint")
    return endpoint
