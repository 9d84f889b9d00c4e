"""Delivery workers: independent loops, so one slow endpoint holds up only its own worker.
Started by app.py only."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from services.notifier.handlers.delivery import (
    Channels,
    DeliveryRules,
    OutcomeRecorder,
    deliver_due,
)
from services.notifier.unit_of_work import NotifierUnits
from shared.consuming import is_transient
from shared.doorbell import Doorbell

log = logging.getLogger(__name__)


async def run_worker(
    units: NotifierUnits,
    channels: Channels,
    rules: DeliveryRules,
    clock: Callable[[], datetime],
    *,
    due: Doorbell,
    poll_seconds: float,
    recorder: OutcomeRecorder,
) -> None:
    """Deliver while work is due; otherwise wait for the doorbell (a delivery queued, resent
    or recovered, or a worker that left some due: see deliver_due) or `poll_seconds` (retries
    fall due by the clock alone); back off on failures. After a batch that was not full, the
    bell decides: looking again at once often found nothing (in bench-e2e, deciding by the
    bell took claims from 2.35 to 2.09 a request, four statements each)."""
    delay = poll_seconds
    while True:
        try:
            sent = await deliver_due(
                units, channels, rules, clock, more_due=due.ring, recorder=recorder
            )
            delay = poll_seconds
            if sent == rules.batch:
                continue  # a full batch: more may be due now
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
            continue
        await due.wait(poll_seconds)


async def finish_recording(recorder: OutcomeRecorder) -> None:
    """Waits for the process to stop, then for the outcomes the recorder still holds to be
    committed: a send that ended must not be sent again for want of its record."""
    try:
        await asyncio.Event().wait()
    finally:
        await recorder.close()
