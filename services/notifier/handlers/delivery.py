"""The delivery use case: lease a batch of due deliveries, send them, record the outcomes.

No connection or transaction is held while sending: one unit of work leases the batch's rows
(see DeliveryRepository.claim_batch), then each delivery is sent and its attempt recorded under
its lease in a unit of its own, as soon as that send ends. Recording the batch's outcomes
together would save transactions but hold every lease until the slowest send (an SMTP
conversation, a timeout) ended, and an endpoint at its cap of leases gets nothing meanwhile."""

from __future__ import annotations

import asyncio
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


async def deliver_due(
    units: NotifierUnits,
    channels: Channels,
    rules: DeliveryRules,
    clock: Callable[[], datetime],
    *,
    more_due: Callable[[], None] = lambda: None,
) -> int:
    """Attempt the most urgent due deliveries, up to `rules.batch`; how many (0: none due).
    A full batch calls `more_due` before sending: more may be due, for another worker."""
    now = clock()
    async with units() as uow:
        deliveries = await uow.deliveries.claim_batch(
            now=now,
            lease_until=now + timedelta(seconds=rules.lease_seconds),
            max_in_flight_per_endpoint=rules.max_in_flight_per_endpoint,
            partners=rules.partners,
            limit=rules.batch,
        )
    if not deliveries:
        return 0
    if len(deliveries) == rules.batch:
        more_due()
    done = await asyncio.gather(
        *(_send_and_record(units, channels, rules, d, now=now, clock=clock) for d in deliveries),
        return_exceptions=True,
    )
    for failure in (x for x in done if isinstance(x, BaseException)):
        raise failure  # the worker backs off; every send of the batch has ended by now
    return len(deliveries)


async def _send_and_record(
    units: NotifierUnits,
    channels: Channels,
    rules: DeliveryRules,
    delivery: Delivery,
    *,
    now: datetime,
    clock: Callable[[], datetime],
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
        async with units() as uow:
            await _record(uow, rules, delivery, result, clock)


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


async def _record(
    uow: NotifierUnitOfWork,
    rules: DeliveryRules,
    delivery: Delivery,
    result: AttemptResult,
    clock: Callable[[], datetime],
) -> None:
    now = clock()
    attempts = delivery.attempts + 1
    retry_at = None if result.ok else domain.next_attempt(rules.policy, attempts, now, result)
    status = domain.outcome_status(result, retry_at)
    outcome = domain.AttemptRecord(status, result.error, retry_at, now)
    if not await uow.deliveries.record_attempt(
        delivery.delivery_id, lease=delivery.lease, outcome=outcome
    ):
        return  # our lease ran out and another worker owns the row now
    uow.after_commit(partial(metrics.attempt_recorded, delivery.channel, status))
    target = delivery.target
    if isinstance(target, WebhookTarget) and target.enabled:
        await _track_endpoint(uow, rules, target, result, now)
    if status != "pending":
        await _announce(uow, delivery, result, status=status, attempts=attempts, now=clock())


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
        disabled.partner_id,
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
            domain.SECRETARIAT,
            event_type=NotificationFailed.ce_type,
            event_id=record.ce_id,
            body=body,
            request_id=None,
        )
