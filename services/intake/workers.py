"""intake's background work besides its consumers: forgetting used links once expired."""

from __future__ import annotations

from services.intake.domain.model import Clock
from services.intake.handlers.sign_in_links import forget_expired_links
from services.intake.unit_of_work import IntakeUnits
from shared.retention import prune_every


async def prune_used_links(units: IntakeUnits, clock: Clock, every_seconds: float) -> None:
    """Forget expired used links now and then every `every_seconds`, until cancelled."""

    async def once() -> int:
        async with units() as uow:
            return await forget_expired_links(uow, clock=clock)

    await prune_every(once, every_seconds, "expired used links")
