"""matcher's background loops: expires offers nobody answered in time (a durable timer), and
serves or gives up on requests waiting for capacity; counts the requests waiting."""

from __future__ import annotations

import asyncio
import logging

from services.matcher.adapters import metrics
from services.matcher.handlers import expiry, waiting
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnits
from shared.db import is_transient_db_error

log = logging.getLogger(__name__)


async def run_timers(units: MatcherUnits, *, matching: Matching, poll_seconds: float) -> None:
    """Until cancelled. Deadlines and waiting requests live in PostgreSQL, so a restart forgets
    none of them."""
    while True:
        try:
            await expiry.expire_due(units, matching)
            await waiting.pass_over(units, matching)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "matcher timers paused: %r", exc, exc_info=level == logging.ERROR)
        await asyncio.sleep(poll_seconds)


async def sample_waiting(units: MatcherUnits) -> None:
    """One sample of `stax_waiting_requests` (shared.sampling calls it every so often)."""
    async with units() as uow:
        metrics.waiting_now(await uow.requests.count_waiting())
