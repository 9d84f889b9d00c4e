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

# How long a stopping notifier lets its workers finish the batch they are sending. A send cut off
# once the server may have the message is sent again when its lease runs out: a second e-mail to
# a person, a second webhook. With the HTTP drain before it (shared.runtime.HTTP_DRAIN_SECONDS),
# Kafka's close and the mailer's QUITs after it, a stop stays inside the launcher's 20 s and
# Kubernetes' 30 s grace period; a send still under way then is cut off, as before.
FINISH_SECONDS = 4.0


class Workers:
    """The delivery workers of a process and how they stop: each ends after the batch it is
    sending, so sends under way finish and their outcomes reach the recorder."""

    def __init__(self, due: Doorbell) -> None:
        self.due = due
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    async def finish(self, within: float = FINISH_SECONDS) -> None:
        """Ask every worker to stop after its batch and wait up to `within` seconds for them;
        the runtime cancels any still running."""
        self.stopping.set()
        for _ in self.tasks:
            self.due.ring()  # wakes one idle worker each, which then sees `stopping`
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=within)


async def run_worker(
    units: NotifierUnits,
    channels: Channels,
    rules: DeliveryRules,
    clock: Callable[[], datetime],
    *,
    due: Doorbell,
    poll_seconds: float,
    recorder: OutcomeRecorder,
    stopping: asyncio.Event,
) -> None:
    """Deliver while work is due; otherwise wait for the doorbell (a delivery queued, resent
    or recovered, or a worker that left some due: see deliver_due) or `poll_seconds` (retries
    fall due by the clock alone); back off on failures. After a batch that was not full, the
    bell decides: looking again at once often found nothing (in bench-e2e, deciding by the
    bell took claims from 2.35 to 2.09 a request, four statements each). Ends after the batch
    under way once `stopping` is set."""
    delay = poll_seconds
    while not stopping.is_set():
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
        if not stopping.is_set():
            await due.wait(poll_seconds)


async def finish_recording(recorder: OutcomeRecorder) -> None:
    """Waits for the process to stop, then for the outcomes the recorder still holds to be
    committed: a send that ended must not be sent again for want of its record."""
    try:
        await asyncio.Event().wait()
    finally:
        await recorder.close()
