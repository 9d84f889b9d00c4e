"""matcher's background loop: expires offers nobody answered in time (a durable timer)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.matcher.handlers import expiry
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Clock
from services.matcher.unit_of_work import MatcherUnits
from shared.db import is_transient_db_error

log = logging.getLogger(__name__)


async def run_expiry(
    units: MatcherUnits,
    *,
    catalog: Catalog,
    clock: Clock,
    respond_within: timedelta,
    poll_seconds: float,
) -> None:
    """Until cancelled. The deadlines live in PostgreSQL, so a restart forgets none of them."""
    while True:
        try:
            await expiry.expire_due(
                units, catalog=catalog, clock=clock, respond_within=respond_within
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "expiry worker paused: %r", exc, exc_info=level == logging.ERROR)
        await asyncio.sleep(poll_seconds)
