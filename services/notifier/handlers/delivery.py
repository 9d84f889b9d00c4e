"""The delivery use case: lease a batch of due deliveries, send them, record the outcomes.

No connection or transaction is held while sending: one unit of work leases the batch's rows
(see DeliveryRepository.claim_batch), then each delivery is sent and its attempt recorded under
its lease as soon as that send ends. Waiting to record a batch's outcomes together would hold
every lease until the slowest send (an SMTP conversation, a timeout) ended, and an endpoint at
its cap of leases gets nothing meanwhile. Instead outcomes are group-committed
(`OutcomeRecorder`): an outcome waits at most for the transaction already under way, and every
outcome that ended meanwhile, from any worker of the process, goes in the next one."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from uuid import uuid4

from services.notifier import domain
from services.notifier.adapters import EmailChannel, WebhookChannel, metrics
from services.notifier.domain import AttemptResult, Delivery, EmailTarget, WebhookTarget
from services.notifier.handlers.fanout import queue_for_partner
from services.notifier.unit_of_work import NotifierUnitOfWork, NotifierUnits
from shared import telemetry
from shared.envelope import build_record
from shared.events import Channel, NotificationDelivered, NotificationFailed

SOURCE = "/stax/notifier"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Channels:
    """How notices leave: signed webhooks and e-mail."""

    webhooks: WebhookChannel
    email: EmailChannel


@dataclass(frozen=True)
class DeliveryRules:
    """How deliveries are leased, retried and given up on (from settings)."""

    policy: domain.RetryPolicy
    lease_seconds: float = 60.0
    max_in_flight_per_endpoint: int = 2
    batch: int = 1  # deliveries leased at once, then sent concurrently
    disable_after_days: float = 5.0
    partners: Sequence[str] | None = None  # None: every partner (tests scope workers to theirs)


@dataclass(frozen=True)
class _Ended:
    """A send that ended, waiting to be recorded; `context` is its caller's (trace, logs)."""

    delivery: Delivery
    result: AttemptResult
    context: contextvars.Context
    recorded: asyncio.Future[None]


class OutcomeRecorder:
    """Records attempts' outcomes, several in one transaction when they end together (a group
    commit), their rows in one statement. A transaction per outcome was three a request, each
    four round trips.

    The first outcome starts a writer task; outcomes that end while it writes wait for the next
    transaction, which takes them all (up to `most`). One failing outcome must not lose the
    others: when a shared transaction fails, each outcome is recorded again in a unit of its
    own, as before group commits, and only its own failure reaches its sender."""

    def __init__(
        self,
        units: NotifierUnits,
        rules: DeliveryRules,
        clock: Callable[[], datetime],
        *,
        most: int = 64,
    ) -> None:
        self._units = units
        self._rules = rules
        self._clock = clock
        self._most = most
        self._waiting: list[_Ended] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, delivery: Delivery, result: AttemptResult) -> None:
        """Return once the outcome is committed (or raise why it could not be)."""
        recorded = asyncio.get_running_loop().create_future()
        self._waiting.append(_Ended(delivery, result, contextvars.copy_context(), recorded))
        if self._writer is None:
            # A context of its own: the first sender's span and log fields are not the others'.
            self._writer = asyncio.create_task(self._write_all(), context=contextvars.Context())
        # Shielded: a sender stopped now still has its outcome recorded by the writer.
        await asyncio.shield(recorded)

    async def close(self) -> None:
        """Wait for the outcomes already handed over (at shutdown, after the workers)."""
        if self._writer is not None:
            await asyncio.shield(self._writer)

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
                await self._write(batch)
        finally:
            self._writer = None

    async def _write(self, batch: Sequence[_Ended]) -> None:
        try:
            async with self._units() as uow:
                await self._record_all(uow, batch)
        except Exception as exc:  # noqa: BLE001 - each outcome is tried again on its own
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            log.warning("recording %d outcomes together failed (%r): one by one", len(batch), exc)
            for ended in batch:
                await self._write_one(ended)
            return
        for ended in batch:
            _settle(ended, None)

    async def _write_one(self, ended: _Ended) -> None:
        try:
            async with self._units() as uow:
                await self._record_all(uow, [ended])
        except Exception as exc:  # noqa: BLE001 - its sender hears of it and backs off
            _settle(ended, exc)
            return
        _settle(ended, None)

    async def _record_all(self, uow: NotifierUnitOfWork, batch: Sequence[_Ended]) -> None:
        """The outcomes stored in one statement, then what follows from each (`_followed_up`)
        run in its sender's context: what it emits carries the sender's trace."""
        now = self._clock()
        outcomes = [_outcome(self._rules, ended.result, ended.delivery, now) for ended in batch]
        attempts = [
            (e.delivery.delivery_id, e.delivery.lease, o)
            for e, o in zip(batch, outcomes, strict=True)
        ]
        recorded = await uow.deliveries.record_attempts(attempts)
        for ended, outcome in zip(batch, outcomes, strict=True):
            if ended.delivery.delivery_id not in recorded:
                continue  # its lease ran out and another worker owns the row now
            work = _followed_up(uow, self._rules, ended.delivery, ended.result, outcome)
            await asyncio.create_task(work, context=ended.context.copy())


def _settle(ended: _Ended, failure: Exception | None) -> None:
    if ended.recorded.done():
        return
    if failure is None:
        ended.recorded.set_result(None)
    else:
        ended.recorded.set_exception(failure)


async def deliver_due(
    units: NotifierUnits,
    channels: Channels,
    rules: DeliveryRules,
    clock: Callable[[], datetime],
    *,
    more_due: Callable[[], None] = lambda: None,
    recorder: OutcomeRecorder | None = None,
) -> int:
    """Attempt the most urgent due deliveries, up to `rules.batch`; how many (0: none due).
    Calls `more_due` when more may be due than this call took: before sending, for another
    worker, when the batch is full; after the sends, once their leases are let go, when the
    claim left deliveries waiting for an endpoint's cap. Otherwise nothing calls for another
    look until the doorbell rings: new work announces itself, and retries fall due by the
    clock (the workers' poll). Outcomes go through `recorder`, the process's (or one of this
    call's own)."""
    now = clock()
    async with units() as uow:
        claim = await uow.deliveries.claim_batch(
            now=now,
            lease_until=now + timedelta(seconds=rules.lease_seconds),
            max_in_flight_per_endpoint=rules.max_in_flight_per_endpoint,
            partners=rules.partners,
            limit=rules.batch,
        )
    deliveries = claim.deliveries
    if not deliveries:
        return 0
    if len(deliveries) == rules.batch:
        more_due()
    recorder = recorder or OutcomeRecorder(units, rules, clock)
    done = await asyncio.gather(
        *(_send_and_record(channels, recorder, d, now=now) for d in deliveries),
        return_exceptions=True,
    )
    for failure in (x for x in done if isinstance(x, BaseException)):
        raise failure  # the worker backs off; every send of the batch has ended by now
    if claim.held_back:
        more_due()
    return len(deliveries)


async def _send_and_record(
    channels: Channels, recorder: OutcomeRecorder, delivery: Delivery, *, now: datetime
) -> None:
    # Under the trace the delivery was queued in: the request's trace ends with this send.
    with telemetry.continued(
        delivery.traceparent,
        f"deliver {delivery.channel}",
        attributes={
            "stax.delivery_id": str(delivery.delivery_id),
            "stax.attempt": delivery.attempts + 1,
        },
    ):
        result = await _attempt_recorded(channels, delivery, now)
        await recorder.record(delivery, result)


async def _attempt_recorded(channels: Channels, delivery: Delivery, now: datetime) -> AttemptResult:
    """The attempt's outcome, whatever it raised. An exception escaping here would leave the row
    leased with its attempts unchanged: due again when the lease ends, first in line (attempts
    = 0 goes before retries), for ever. Counted as a failed attempt, it follows the schedule
    and ends failed and announced like any other. (Cancellation is not an Exception: a worker
    stopped mid-send leaves the lease to run out, and the row is sent again.)"""
    try:
        return await _attempt(channels, delivery, now)
    except Exception as exc:  # every one: see above, nothing may skip the record
        log.exception("delivery %s: the attempt raised", delivery.delivery_id)
        name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        return AttemptResult(ok=False, error=f"{name}: {exc}"[:500])


async def _attempt(channels: Channels, delivery: Delivery, now: datetime) -> AttemptResult:
    target = delivery.target
    if isinstance(target, WebhookTarget):
        if not target.enabled:
            return AttemptResult(
                ok=False, error="endpoint disabled", permanent=True, target_gone=True
            )
        secrets = domain.signing_secrets(
            target.secret, target.previous_secret, target.previous_secret_until, now
        )
        return await channels.webhooks.send(
            url=target.url,
            secrets=secrets,
            webhook_id=str(delivery.delivery_id),
            body=delivery.payload,
            now=now,
        )
    return await _mail(channels.email, delivery, target)


async def _mail(email: EmailChannel, delivery: Delivery, target: EmailTarget) -> AttemptResult:
    if not target.enabled:
        return AttemptResult(ok=False, error="contact removed", permanent=True, target_gone=True)
    return await email.send(
        to=target.email,
        language=target.language,
        event_type=delivery.event_type,
        body=delivery.payload,
        delivery_id=str(delivery.delivery_id),
    )


def _outcome(
    rules: DeliveryRules, result: AttemptResult, delivery: Delivery, now: datetime
) -> domain.AttemptRecord:
    attempts = delivery.attempts + 1
    retry_at = None if result.ok else domain.next_attempt(rules.policy, attempts, now, result)
    return domain.AttemptRecord(
        domain.outcome_status(result, retry_at), result.error, retry_at, now
    )


async def _followed_up(
    uow: NotifierUnitOfWork,
    rules: DeliveryRules,
    delivery: Delivery,
    result: AttemptResult,
    outcome: domain.AttemptRecord,
) -> None:
    """What a recorded outcome leads to: the endpoint's health, and the announcement."""
    uow.after_commit(partial(metrics.attempt_recorded, delivery.channel, outcome.status))
    target = delivery.target
    if isinstance(target, WebhookTarget) and target.enabled:
        await _track_endpoint(uow, rules, target, result, outcome.at)
    if outcome.status != "pending":
        attempts = delivery.attempts + 1
        await _announce(
            uow, delivery, result, status=outcome.status, attempts=attempts, now=outcome.at
        )


async def _track_endpoint(
    uow: NotifierUnitOfWork,
    rules: DeliveryRules,
    target: WebhookTarget,
    result: AttemptResult,
    now: datetime,
) -> None:
    if result.ok:
        if target.failing_since is not None:  # most of the time there is nothing to clear
            await uow.endpoints.succeeded(target.endpoint_id)
        return
    since = await uow.endpoints.failed(target.endpoint_id, now)
    if result.disable_endpoint:
        reason = f"it answered {result.error} (gone)"
    elif domain.failing_too_long(since, now, rules.disable_after_days):
        reason = f"every delivery failed since {since.isoformat()}"
    else:
        return
    disabled = await uow.endpoints.disable(target.endpoint_id, reason)
    if disabled is not None:  # None: another worker disabled it first and told the partner
        await _tell_disabled(uow, disabled, reason, now)


async def _tell_disabled(
    uow: NotifierUnitOfWork, disabled: domain.DisabledEndpoint, reason: str, now: datetime
) -> None:
    data = {
        "endpoint_id": str(disabled.endpoint_id),
        "partner_id": disabled.partner_id,
        "url": disabled.url,
        "reason": reason,
    }
    body = domain.webhook_body(domain.ENDPOINT_DISABLED, now, data)
    # Told by e-mail (its webhook is what broke), whatever the contacts' filters say.
    await queue_for_partner(
        uow,
        await uow.subscribers.of_partner(disabled.partner_id),
        event_type=domain.ENDPOINT_DISABLED,
        event_id=uuid4(),
        body=body,
        request_id=None,
        email_only=True,
        ignore_filters=True,
    )


async def _announce(
    uow: NotifierUnitOfWork,
    delivery: Delivery,
    result: AttemptResult,
    *,
    status: str,
    attempts: int,
    now: datetime,
) -> None:
    """ta.notification.delivered|failed through the outbox; the Secretariat hears of failures."""
    outcome = NotificationDelivered if status == "delivered" else NotificationFailed
    event = outcome(
        delivery_id=delivery.delivery_id,
        event_id=delivery.event_id,
        request_id=delivery.request_id,
        partner_id=delivery.partner_id,
        channel=Channel.WEBHOOK if delivery.channel == "webhook" else Channel.EMAIL,
        attempts=attempts,
        last_error=result.error,
    )
    subject = str(delivery.request_id or delivery.event_id)
    record = build_record(event, source=SOURCE, subject=subject)
    await uow.emit([record])
    # No notice about a failed notice: that could loop for ever. Nor for the backlog of an
    # endpoint or contact that was disabled or removed: its partner was told once already.
    quiet = {NotificationFailed.ce_type, domain.ENDPOINT_DISABLED}
    if status == "failed" and delivery.event_type not in quiet and not result.target_gone:
        body = domain.webhook_body(NotificationFailed.ce_type, now, event.model_dump(mode="json"))
        await queue_for_partner(
            uow,
            await uow.subscribers.of_partner(domain.SECRETARIAT),
            event_type=NotificationFailed.ce_type,
            event_id=record.ce_id,
            body=body,
            request_id=None,
        )
