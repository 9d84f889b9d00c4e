"""SQL for notifier's deliveries (subscriptions are in subscriptions_repo.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.notifier.domain import Endpoint
from shared.db import Conn


async def endpoints_of(conn: Conn, partner_id: str) -> list[Endpoint]:
    rows = await conn.fetch(
        "SELECT endpoint_id, partner_id, event_types FROM notifier.endpoints "
        "WHERE partner_id = $1 AND enabled AND NOT deleted",
        partner_id,
    )
    return [Endpoint(r["endpoint_id"], r["partner_id"], r["event_types"]) for r in rows]


async def contacts_of(conn: Conn, partner_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT contact_id, partner_id, event_types FROM notifier.contacts "
            "WHERE partner_id = $1 AND enabled",
            partner_id,
        )
    )


async def requester_contact(conn: Conn, request_id: UUID) -> asyncpg.Record | None:
    """The Party's contact for a request; `enabled` is false once its data was erased."""
    found: asyncpg.Record | None = await conn.fetchrow(
        "SELECT contact_id, party, enabled FROM notifier.contacts WHERE request_id = $1",
        request_id,
    )
    return found


# --- erasure (issue 9, finding 8) ------------------------------------------------------------


async def erase_requester(conn: Conn, contact_id: UUID, request_id: UUID) -> None:
    """Blank the Party's contact, keeping the row as a tombstone: deliveries reference it, and
    its unique request_id stops a replayed ta.request.accepted from recording it again. Made
    even when the contact never arrived, for the same reason."""
    await conn.execute(
        "INSERT INTO notifier.contacts (contact_id, request_id, email, name, enabled) "
        "VALUES ($1, $2, '', '', false) "
        "ON CONFLICT (request_id) WHERE request_id IS NOT NULL "
        "DO UPDATE SET email = '', name = '', enabled = false",
        contact_id,
        request_id,
    )


async def redact_deliveries(conn: Conn, request_id: UUID, contact_id: UUID) -> None:
    """Drop the contact from a request's stored bodies, and the errors of mail to the Party (an
    SMTP refusal may quote its address). Pending mail to it then fails as "contact removed"."""
    await conn.execute(
        "UPDATE notifier.deliveries SET "
        "payload = CASE WHEN (payload::jsonb -> 'data') ? 'contact' "
        "  THEN (payload::jsonb #- '{data,contact}')::text ELSE payload END, "
        "last_error = CASE WHEN contact_id = $2 THEN NULL ELSE last_error END "
        "WHERE request_id = $1",
        request_id,
        contact_id,
    )
    # Notices still waiting for the contact have no one to go to any more.
    await conn.execute("DELETE FROM notifier.requester_pending WHERE request_id = $1", request_id)


async def lock_requester(conn: Conn, request_id: UUID) -> None:
    """Serialise the two consumers that meet at a requester (the contact arriving on
    ta.requests.v1, notices for it on ta.assignments.v1): without it each could miss the
    other's uncommitted row and a notice would wait forever. Held until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('notifier.requester'), hashtext($1))",
        str(request_id),
    )


async def add_requester_pending(
    conn: Conn, request_id: UUID, event_id: UUID, event_type: str, payload: str
) -> None:
    await conn.execute(
        "INSERT INTO notifier.requester_pending (request_id, event_id, event_type, payload) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        request_id,
        event_id,
        event_type,
        payload,
    )


async def take_requester_pending(conn: Conn, request_id: UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "DELETE FROM notifier.requester_pending WHERE request_id = $1 "
            "RETURNING event_id, event_type, payload",
            request_id,
        )
    )


async def save_requester_contact(
    conn: Conn,
    *,
    contact_id: UUID,
    request_id: UUID,
    party: str,
    email: str,
    name: str,
    language: str,
) -> None:
    # The unique index on request_id makes a redelivered ta.request.accepted a no-op.
    await conn.execute(
        "INSERT INTO notifier.contacts (contact_id, request_id, party, email, name, language) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        contact_id,
        request_id,
        party,
        email,
        name,
        language,
    )


async def kafka_channel(conn: Conn, partner_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT topic, event_types FROM notifier.kafka_channels WHERE partner_id = $1 AND enabled",
        partner_id,
    )
    return row


async def add_delivery(
    conn: Conn,
    *,
    delivery_id: UUID,
    event_id: UUID,
    event_type: str,
    partner_id: str,
    request_id: UUID | None,
    payload: str,
    endpoint_id: UUID | None = None,
    contact_id: UUID | None = None,
) -> bool:
    """False when this event already has a delivery to this endpoint or contact."""
    # ON CONFLICT without a target: either unique key, (event_id, endpoint_id) for webhooks or
    # (event_id, contact_id) for e-mail, makes a redelivered event insert nothing.
    status: str = await conn.execute(
        "INSERT INTO notifier.deliveries (delivery_id, event_id, event_type, endpoint_id, "
        "contact_id, channel, partner_id, request_id, payload) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        delivery_id,
        event_id,
        event_type,
        endpoint_id,
        contact_id,
        "webhook" if endpoint_id is not None else "email",
        partner_id,
        request_id,
        payload,
    )
    return status == "INSERT 0 1"


# A delivery is leased, not locked, while it is sent: a short claim transaction picks a due row
# (FOR UPDATE SKIP LOCKED, so concurrent workers and replicas take different rows), sets
# claimed_until = next_attempt_at = the end of the lease, and commits; no transaction stays open
# across the HTTP call. If the worker dies, the row is simply due again when the lease ends and
# is re-sent with the same delivery_id (= webhook-id). First attempts go before retries (Hook0's
# priority split), so a dead endpoint's retries never starve fresh deliveries.
_PICK = """
WITH busy AS (
    SELECT endpoint_id FROM notifier.deliveries
    WHERE status = 'pending' AND claimed_until > $1 AND endpoint_id IS NOT NULL
    GROUP BY endpoint_id HAVING count(*) >= $2
)
SELECT d.delivery_id, d.event_id, d.event_type, d.partner_id, d.request_id, d.payload,
       d.attempts, d.channel, d.endpoint_id, d.contact_id,
       e.url, e.secret, e.previous_secret, e.previous_secret_until, e.failing_since,
       (e.enabled AND NOT e.deleted) AS endpoint_enabled,
       c.email, c.language, c.enabled AS contact_enabled
FROM notifier.deliveries d
LEFT JOIN notifier.endpoints e ON e.endpoint_id = d.endpoint_id
LEFT JOIN notifier.contacts c ON c.contact_id = d.contact_id
WHERE d.status = 'pending' AND d.next_attempt_at <= $1
  AND ($3::text[] IS NULL OR d.partner_id = ANY($3::text[]))
  AND (d.endpoint_id IS NULL OR d.endpoint_id NOT IN (SELECT endpoint_id FROM busy))
ORDER BY d.attempts > 0, d.next_attempt_at
LIMIT 1
FOR UPDATE OF d SKIP LOCKED
"""

_LEASES = (
    "SELECT count(*) FROM notifier.deliveries "
    "WHERE endpoint_id = $1 AND status = 'pending' AND claimed_until > $2"
)


async def claim_due(
    conn: Conn,
    *,
    now: datetime,
    lease_until: datetime,
    max_in_flight_per_endpoint: int,
    partners: Sequence[str] | None = None,
) -> dict[str, Any] | None:
    """Lease the most urgent due delivery, with what sending it needs; None when nothing is due
    (or the endpoint it found reached its in-flight cap meanwhile)."""
    async with conn.transaction():
        row = await conn.fetchrow(_PICK, now, max_in_flight_per_endpoint, partners)
        if row is None:
            return None
        if row["endpoint_id"] is not None:
            # An endpoint may hold at most N leases, so a dead one never occupies every worker.
            # The `busy` filter above reads a snapshot that misses claims committing meanwhile;
            # this lock (per endpoint, until commit) serialises claims for one endpoint, and the
            # recount after it, a new snapshot, sees every lease committed before: exact cap.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('stax.notifier.endpoint:' || $1::text))",
                str(row["endpoint_id"]),
            )
            if await conn.fetchval(_LEASES, row["endpoint_id"], now) >= max_in_flight_per_endpoint:
                return None
        await conn.execute(
            "UPDATE notifier.deliveries SET claimed_until = $2, next_attempt_at = $2 "
            "WHERE delivery_id = $1",
            row["delivery_id"],
            lease_until,
        )
    return dict(row) | {"claimed_until": lease_until}


async def record_attempt(
    conn: Conn,
    delivery_id: UUID,
    *,
    lease: datetime,
    status: str,
    error: str | None,
    next_attempt_at: datetime | None,
    now: datetime,
) -> bool:
    """Store an attempt's outcome, only if our lease still holds: a worker that outlived its
    lease (and whose row another worker re-claimed) must not overwrite the newer outcome."""
    result: str = await conn.execute(
        "UPDATE notifier.deliveries SET attempts = attempts + 1, status = $2::text, "
        "last_error = $3, next_attempt_at = coalesce($4, next_attempt_at), "
        "claimed_until = NULL, last_attempt_at = $5::timestamptz, "
        "delivered_at = CASE WHEN $2::text = 'delivered' THEN $5::timestamptz END, "
        "failed_at = CASE WHEN $2::text = 'failed' THEN $5::timestamptz END "
        "WHERE delivery_id = $1 AND claimed_until = $6",
        delivery_id,
        status,
        error,
        next_attempt_at,
        now,
        lease,
    )
    return result == "UPDATE 1"


async def endpoint_failed(conn: Conn, endpoint_id: UUID, now: datetime) -> datetime:
    """Start (or continue) the endpoint's run of failures; returns when it started."""
    since: datetime = await conn.fetchval(
        "UPDATE notifier.endpoints SET failing_since = coalesce(failing_since, $2) "
        "WHERE endpoint_id = $1 RETURNING failing_since",
        endpoint_id,
        now,
    )
    return since


async def endpoint_succeeded(conn: Conn, endpoint_id: UUID) -> None:
    await conn.execute(
        "UPDATE notifier.endpoints SET failing_since = NULL "
        "WHERE endpoint_id = $1 AND failing_since IS NOT NULL",
        endpoint_id,
    )


async def disable_endpoint(conn: Conn, endpoint_id: UUID, reason: str) -> asyncpg.Record | None:
    """Disable once: `AND enabled` makes concurrent workers agree on who tells the partner."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE notifier.endpoints SET enabled = false, disabled_reason = $2, updated_at = now() "
        "WHERE endpoint_id = $1 AND enabled RETURNING endpoint_id, partner_id, url",
        endpoint_id,
        reason,
    )
    return row


_LIST = (
    "SELECT delivery_id, event_id, event_type, channel, partner_id, request_id, endpoint_id, "
    "contact_id, status, attempts, last_error, next_attempt_at, created_at, last_attempt_at, "
    "delivered_at, failed_at FROM notifier.deliveries "
    "WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR status = $2) "
    "ORDER BY created_at DESC LIMIT $3"
)


async def list_deliveries(
    conn: Conn, *, partner_id: str | None, status: str | None, limit: int
) -> list[asyncpg.Record]:
    return list(await conn.fetch(_LIST, partner_id, status, limit))


async def resend(conn: Conn, delivery_id: UUID, now: datetime) -> bool:
    """Back to pending with a fresh schedule; same delivery_id, so the same webhook-id."""
    result: str = await conn.execute(
        "UPDATE notifier.deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, "
        "claimed_until = NULL, failed_at = NULL WHERE delivery_id = $1 AND status <> 'pending'",
        delivery_id,
        now,
    )
    return result == "UPDATE 1"


async def recover_failed(
    conn: Conn, *, since: datetime, partner_id: str | None, now: datetime
) -> int:
    result: str = await conn.execute(
        "UPDATE notifier.deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3, "
        "claimed_until = NULL, failed_at = NULL "
        "WHERE status = 'failed' AND failed_at >= $1 AND ($2::text IS NULL OR partner_id = $2)",
        since,
        partner_id,
        now,
    )
    return int(result.rsplit(maxsplit=1)[-1])


async def delivery_exists(conn: Conn, delivery_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notifier.deliveries WHERE delivery_id = $1)",
            delivery_id,
        )
    )
