"""notifier's use cases; dependencies arrive as arguments, wired in app.py."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from services.notifier import domain, repository
from services.notifier.sender import WebhookSender
from shared.db import Conn
from shared.envelope import Envelope, build_record
from shared.events import (
    AssignmentOffered,
    Channel,
    NotificationDelivered,
    NotificationFailed,
)
from shared.outbox import Outbox

SOURCE = "/stax/notifier"


@dataclass(frozen=True)
class NotifierDeps:
    pool: asyncpg.Pool
    outbox: Outbox
    sender: WebhookSender
    clock: Callable[[], datetime]
    schedule: Sequence[float]


async def on_assignment_offered(conn: Conn, envelope: Envelope, offer: AssignmentOffered) -> None:
    """Queue one webhook delivery per endpoint of the offered partner (in the consumer's tx)."""
    body = domain.webhook_body(envelope.type, envelope.time, envelope.data)
    for endpoint in await repository.endpoints_of(conn, offer.partner_id):
        if endpoint.wants(envelope.type):
            await repository.add_delivery(
                conn,
                delivery_id=uuid4(),
                event_id=envelope.id,
                event_type=envelope.type,
                endpoint=endpoint,
                request_id=offer.request_id,
                payload=body,
            )


async def deliver_one(deps: NotifierDeps) -> bool:
    """Attempt the most overdue delivery; False when nothing is due."""
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await repository.claim_due(conn)
        if row is None:
            return False
        now = deps.clock()
        result = await deps.sender.send(
            url=row["url"],
            secret=row["secret"],
            webhook_id=str(row["delivery_id"]),
            body=row["payload"],
            now=now,
        )
        await _record(deps, conn, row, result, now)
    return True


async def _record(
    deps: NotifierDeps,
    conn: Conn,
    row: asyncpg.Record,
    result: domain.AttemptResult,
    now: datetime,
) -> None:
    attempts = row["attempts"] + 1
    retry_at = None if result.ok else domain.next_attempt(deps.schedule, attempts, now, result)
    status = "delivered" if result.ok else ("pending" if retry_at else "failed")
    await repository.record_attempt(
        conn, row["delivery_id"], status=status, error=result.error, next_attempt_at=retry_at
    )
    if status == "pending":
        return
    outcome = NotificationDelivered if result.ok else NotificationFailed
    event = outcome(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        request_id=row["request_id"],
        partner_id=row["partner_id"],
        channel=Channel.WEBHOOK,
        attempts=attempts,
        last_error=result.error,
    )
    subject = str(row["request_id"] or row["event_id"])
    await deps.outbox.add(conn, [build_record(event, source=SOURCE, subject=subject)])


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class NewEndpoint:
    endpoint_id: UUID
    secret: str


async def create_endpoint(
    pool: asyncpg.Pool, *, partner_id: str, url: str, event_types: list[str], secret: str | None
) -> NewEndpoint:
    created = NewEndpoint(uuid4(), secret or new_secret())
    async with pool.acquire() as conn:
        await repository.create_endpoint(
            conn,
            endpoint_id=created.endpoint_id,
            partner_id=partner_id,
            url=url,
            secret=created.secret,
            event_types=event_types,
        )
    return created
