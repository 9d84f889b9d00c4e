"""matcher's use cases; dependencies arrive as arguments, wired in app.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from services.matcher import domain, repository
from shared.db import Conn
from shared.envelope import Envelope, build_record
from shared.events import RequestAccepted
from shared.outbox import Outbox

SOURCE = "/stax/matcher"


@dataclass(frozen=True)
class MatcherDeps:
    outbox: Outbox
    clock: Callable[[], datetime]
    respond_within: timedelta


async def on_request_accepted(
    deps: MatcherDeps, conn: Conn, _envelope: Envelope, request: RequestAccepted
) -> None:
    """Offer the request (inside the consumer's transaction, inbox already claimed)."""
    offer = domain.placeholder_offer(
        request, assignment_id=uuid4(), now=deps.clock(), respond_within=deps.respond_within
    )
    if await repository.insert_offer(conn, offer):
        await deps.outbox.add(
            conn, [build_record(offer, source=SOURCE, subject=str(offer.request_id))]
        )
