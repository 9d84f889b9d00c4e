"""intake's background work besides its consumers: forgetting used links once expired."""

from __future__ import annotations

import asyncio
import logging

from services.intake.domain.model import Clock
from services.intake.handlers.sign_in_links import forget_expired_links
from services.intake.unit_of_work import IntakeUnits
from shared.db import is_transient_db_error

log = logging.getLogger(__name__)


async def prune_used_links(units: IntakeUnits, clock: Clock, every_seconds: float) -> None:
    """Prune now and then every `every_seconds`, until cancelled; outages only delay it."""
    while True:
        try:
            async with units() as uow:
                if forgotten := await forget_expired_links(uow, clock=clock):
                    log.info("retention: %d expired used links forgotten", forgotten)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - pruning must outlive any outage
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "retention: pruning used links failed: %s", exc)
        await asyncio.sleep(every_seconds)
