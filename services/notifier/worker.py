"""Delivery workers: independent loops, so one slow endpoint holds up only its own worker."""

from __future__ import annotations

import asyncio
import logging

from services.notifier import delivery
from shared.consuming import is_transient

log = logging.getLogger(__name__)


async def run_worker(deps: delivery.DeliveryDeps, poll_seconds: float) -> None:
    delay = poll_seconds
    while True:
        try:
            if await delivery.deliver_one(deps):
                delay = poll_seconds
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a worker must outlive outages and bugs
            log.log(
                logging.WARNING if is_transient(exc) else logging.ERROR,
                "delivery worker paused: %r",
                exc,
            )
            delay = min(delay * 2, 15.0)
        await asyncio.sleep(delay)
