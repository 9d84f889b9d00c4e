"""intake's use cases; dependencies arrive as arguments, wired in app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from services.intake import domain, repository
from shared.db import Conn
from shared.envelope import build_record
from shared.events import RequestSubmission
from shared.outbox import Outbox

SOURCE = "/stax/intake"
Clock = Callable[[], datetime]


class IdempotencyConflict(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """The same idempotency key was used with a different body."""


@dataclass(frozen=True)
class Submitted:
    request_id: UUID
    status: str
    created: bool


@dataclass(frozen=True)
class IntakeDeps:
    pool: asyncpg.Pool
    outbox: Outbox
    reference: domain.Reference
    clock: Clock


async def submit_request(
    deps: IntakeDeps, submission: RequestSubmission, *, submitter: str
) -> Submitted:
    """Record a submission and queue `ta.request.accepted`, once per (submitter, external_ref)."""
    fingerprint = domain.body_hash(submission)
    async with deps.pool.acquire() as conn, conn.transaction():
        event = domain.accept(
            submission,
            request_id=uuid4(),
            submitter=submitter,
            reference=deps.reference,
            now=deps.clock(),
        )
        if not await repository.insert_request(conn, event, fingerprint):
            # Already recorded (a retry, or a concurrent twin that committed first): answer
            # with the first request's id rather than creating a second request.
            return await _replay(conn, submitter, submission.external_ref, fingerprint)
        await deps.outbox.add(
            conn, [build_record(event, source=SOURCE, subject=str(event.request_id))]
        )
    return Submitted(event.request_id, "accepted", created=True)


async def _replay(conn: Conn, submitter: str, external_ref: str, fingerprint: str) -> Submitted:
    existing = await repository.find_by_ref(conn, submitter, external_ref)
    if existing is None:
        raise RuntimeError("conflicting request vanished")  # rows are never deleted
    if existing["body_hash"] != fingerprint:
        raise IdempotencyConflict(external_ref)
    return Submitted(existing["request_id"], "accepted", created=False)
