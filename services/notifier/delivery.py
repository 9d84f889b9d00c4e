"""The delivery use case: lease one due delivery, send it, record the outcome."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

import asyncpg

from services.notifier import domain, repository
from services.notifier.domain import AttemptResult
from services.notifier.handlers import queue_for_partner
from shared.db import Conn
from shared.envelope import build_record
from shared.events import Channel, NotificationDelivered, NotificationFailed
from shared.outbox import Outbox

SOURCE = "/stax/notifier"

log = logging.getLogger(__name__)


class WebhookChannel(Protocol):
    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult: ...


class EmailChannel(Protocol):
    async def send(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> AttemptResult: ...


@dataclass(frozen=True)
class DeliveryDeps:
    pool: asyncpg.Pool
    outbox: Outbox
    webhooks: WebhookChannel
    email: EmailChannel
    clock: Callable[[], datetime]
    policy: domain.RetryPolicy
    lease_seconds: float = 60.0
    max_in_flight_per_endpoint: int = 2
    disable_after_days: float = 5.0
    partners: Sequence[str] | None = None  # None: every partner (tests scope workers to theirs)


async def deliver_one(deps: DeliveryDeps) -> bool:
    """Attempt the most urgent due delivery; False when nothing is due.

    No connection or transaction is held while sending: the row is leased (see repository).
    """
    now = deps.clock()
    async with deps.pool.acquire() as conn:
        row = await repository.claim_due(
            conn,
            now=now,
            lease_until=now + timedelta(seconds=deps.lease_seconds),
            max_in_flight_per_endpoint=deps.max_in_flight_per_endpoint,
            partners=deps.partners,
        )
    if row is None:
        return False
    result = await _attempt_recorded(deps, row, now)
    async with deps.pool.acquire() as conn, conn.transaction():
        await _record(deps, conn, row, result, deps.clock())
    return True


async def _attempt_recorded(
    deps: DeliveryDeps, row: Mapping[str, Any], now: datetime
) -> AttemptResult:
    """The attempt's outcome, whatever it raised. An exception escaping here would leave the row
    leased with its attempts unchanged: due again when the lease ends, first in line (attempts
    = 0 goes before retries), for ever. Counted as a failed attempt, it follows the schedule
    and ends failed and announced like any other. (Cancellation is not an Exception: a worker
    stopped mid-send leaves the lease to run out, and the row is sent again.)"""
    try:
        return await _attempt(deps, row, now)
    except Exception as exc:  # every one: see above, nothing may skip the record
        log.exception("delivery %s: the attempt raised", row["delivery_id"])
        name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
        return AttemptResult(ok=False, error=f"{name}: {exc}"[:500])


async def _attempt(deps: DeliveryDeps, row: Mapping[str, Any], now: datetime) -> AttemptResult:
    if row["channel"] == "webhook":
        if not row["endpoint_enabled"]:
            return AttemptResult(
                ok=False, error="endpoint disabled", permanent=True, target_gone=True
            )
        secrets = domain.signing_secrets(
            row["secret"], row["previous_secret"], row["previous_secret_until"], now
        )
        return await deps.webhooks.send(
            url=row["url"],
            secrets=secrets,
            webhook_id=str(row["delivery_id"]),
            body=row["payload"],
            now=now,
        )
    if not row["contact_enabled"]:
        return AttemptResult(ok=False, error="contact removed", permanent=True, target_gone=True)
    return await deps.email.send(
        to=row["email"],
        language=row["language"],
        event_type=row["event_type"],
        body=row["payload"],
        delivery_id=str(row["delivery_id"]),
    )


async def _record(
    deps: DeliveryDeps, conn: Conn, row: Mapping[str, Any], result: AttemptResult, now: datetime
) -> None:
    attempts = row["attempts"] + 1
    retry_at = None if result.ok else domain.next_attempt(deps.policy, attempts, now, result)
    status = domain.outcome_status(result, retry_at)
    recorded = await repository.record_attempt(
        conn,
        row["delivery_id"],
        lease=row["claimed_until"],
        status=status,
        error=result.error,
        next_attempt_at=retry_at,
        now=now,
    )
    if not recorded:  # our lease ran out and another worker owns the row now
        return
    if row["endpoint_id"] is not None and row["endpoint_enabled"]:
        await _track_endpoint(deps, conn, row, result, now)
    if status != "pending":
        await _announce(deps, conn, row, result, status=status, attempts=attempts)


async def _track_endpoint(
    deps: DeliveryDeps, conn: Conn, row: Mapping[str, Any], result: AttemptResult, now: datetime
) -> None:
    endpoint_id: UUID = row["endpoint_id"]
    if result.ok:
        if row["failing_since"] is not None:  # most of the time there is nothing to clear
            await repository.endpoint_succeeded(conn, endpoint_id)
        return
    since = await repository.endpoint_failed(conn, endpoint_id, now)
    if result.disable_endpoint:
        reason = f"it answered {result.error} (gone)"
    elif domain.failing_too_long(since, now, deps.disable_after_days):
        reason = f"every delivery failed since {since.isoformat()}"
    else:
        return
    disabled = await repository.disable_endpoint(conn, endpoint_id, reason)
    if disabled is None:  # another worker disabled it first and told the partner
        return
    data = {
        "endpoint_id": str(endpoint_id),
        "partner_id": disabled["partner_id"],
        "url": disabled["url"],
        "reason": reason,
    }
    body = domain.webhook_body(domain.ENDPOINT_DISABLED, now, data)
    # Told by e-mail (its webhook is what broke), whatever the contacts' filters say.
    await queue_for_partner(
        conn,
        disabled["partner_id"],
        event_type=domain.ENDPOINT_DISABLED,
        event_id=uuid4(),
        body=body,
        request_id=None,
        email_only=True,
        ignore_filters=True,
    )


async def _announce(
    deps: DeliveryDeps,
    conn: Conn,
    row: Mapping[str, Any],
    result: AttemptResult,
    *,
    status: str,
    attempts: int,
) -> None:
    """ta.notification.delivered|failed through the outbox; the Secretariat hears of failures."""
    outcome = NotificationDelivered if status == "delivered" else NotificationFailed
    event = outcome(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        request_id=row["request_id"],
        partner_id=row["partner_id"],
        channel=Channel.WEBHOOK if row["channel"] == "webhook" else Channel.EMAIL,
        attempts=attempts,
        last_error=result.error,
    )
    record = build_record(event, source=SOURCE, subject=str(row["request_id"] or row["event_id"]))
    await deps.outbox.add(conn, [record])
    # No notice about a failed notice: that could loop for ever. Nor for the backlog of an
    # endpoint or contact that was disabled or removed: its partner was told once already.
    quiet = {NotificationFailed.ce_type, domain.ENDPOINT_DISABLED}
    if status == "failed" and row["event_type"] not in quiet and not result.target_gone:
        body = domain.webhook_body(
            NotificationFailed.ce_type, deps.clock(), event.model_dump(mode="json")
        )
        await queue_for_partner(
            conn,
            domain.SECRETARIAT,
            event_type=NotificationFailed.ce_type,
            event_id=record.ce_id,
            body=body,
            request_id=None,
        )
