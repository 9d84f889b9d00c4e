"""Operators' view of deliveries: list them, resend one, recover the failed ones."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.notifier.domain import AlreadyPending, DeliveryStatus, NotFound
from services.notifier.unit_of_work import NotifierUnitOfWork


async def list_deliveries(
    uow: NotifierUnitOfWork, *, partner_id: str | None, status: str | None, limit: int
) -> list[DeliveryStatus]:
    return await uow.deliveries.recent(partner_id=partner_id, status=status, limit=limit)


async def resend(uow: NotifierUnitOfWork, delivery_id: UUID, now: datetime) -> None:
    """Back to pending with a fresh schedule (same delivery_id, so the same webhook-id)."""
    if await uow.deliveries.resend(delivery_id, now):
        return
    if await uow.deliveries.exists(delivery_id):
        raise AlreadyPending("already pending")
    raise NotFound("delivery")


async def recover_failed(
    uow: NotifierUnitOfWork, *, since: datetime, partner_id: str | None, now: datetime
) -> int:
    """Every delivery failed since `since` (of one partner, or all) back to pending."""
    return await uow.deliveries.recover_failed(since=since, partner_id=partner_id, now=now)
