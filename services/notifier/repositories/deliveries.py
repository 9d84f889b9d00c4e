"""notifier.deliveries: one row per notice and target, leased while it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from services.notifier.domain import (
    AttemptRecord,
    Claim,
    Delivery,
    DeliveryStatus,
    EmailTarget,
    NewDelivery,
    WebhookTarget,
)
from shared import telemetry
from shared.db import Conn
from shared.uow import Gathered

# A delivery is leased, not locked, while it is sent: a short claim transaction picks a due row
# (FOR UPDATE SKIP LOCKED, so concurrent workers and replicas take different rows), sets
# claimed_until = next_attempt_at = the end of the lease, and commits; no transaction stays open
# across the HTTP call. If the worker dies, the row is simply due again when the lease ends and
# is re-sent with the same delivery_id (= webhook-id). First attempts go before retries (Hook0's
# priority split), so a dead endpoint's retries never starve fresh deliveries.
_PICK = """
WITH leases AS (
    SELECT endpoint_id, count(*) AS held FROM notifier.deliveries
    WHERE status = 'pending' AND claimed_until > $1 AND endpoint_id IS NOT NULL
    GROUP BY endpoint_id
), due AS (
    -- In claim order (deliveries_due_priority), stopping after $5 rows: not the whole due set,
    -- whose size, after an outage, would make every claim as slow as the backlog is long.
    -- Endpoints already at their cap are passed over, so their backlog never fills the window:
    -- its first row is always claimable, and every claim makes progress.
    SELECT delivery_id, endpoint_id, attempts, next_attempt_at
    FROM notifier.deliveries
    WHERE status = 'pending' AND next_attempt_at <= $1
      AND ($3::text[] IS NULL OR partner_id = ANY($3::text[]))
      AND (endpoint_id IS NULL
           OR endpoint_id NOT IN (SELECT endpoint_id FROM leases WHERE held >= $2))
    ORDER BY attempts > 0, next_attempt_at
    LIMIT $5
), ranked AS (
    SELECT delivery_id, row_number() OVER (
        PARTITION BY endpoint_id ORDER BY attempts > 0, next_attempt_at
    ) AS nth
    FROM due
), picked AS (
    SELECT d.delivery_id, d.event_id, d.event_type, d.partner_id, d.request_id, d.payload,
           d.attempts, d.next_attempt_at, d.endpoint_id, d.contact_id, d.traceparent
    FROM ranked
    JOIN notifier.deliveries d ON d.delivery_id = ranked.delivery_id
    LEFT JOIN leases l ON l.endpoint_id = d.endpoint_id
    -- Repeated on d itself: FOR UPDATE re-checks a row another worker claimed (and committed)
    -- while this statement ran against the row's new version, but only conditions at this
    -- level; those of `due` saw the statement's snapshot, so without these the row would be
    -- claimed twice.
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
      -- Per endpoint, only as many as its cap has room for (leases already held counted).
      AND (d.endpoint_id IS NULL OR coalesce(l.held, 0) + ranked.nth <= $2)
    ORDER BY d.attempts > 0, d.next_attempt_at
    LIMIT $4
    FOR UPDATE OF d SKIP LOCKED
), locked AS (
    -- The picked rows' endpoints, each locked until the claim's unit ends, in one order for
    -- every worker (so two claims never wait on each other in a cycle): see _LEASE.
    SELECT count(pg_advisory_xact_lock(hashtext('stax.notifier.endpoint:' || endpoint_id::text)))
    FROM (SELECT DISTINCT endpoint_id FROM picked WHERE endpoint_id IS NOT NULL
          ORDER BY endpoint_id) AS endpoints
)
SELECT p.*,
       e.url, e.secret, e.previous_secret, e.previous_secret_until, e.failing_since,
       (e.enabled AND NOT e.deleted) AS endpoint_enabled,
       c.email, c.language, c.enabled AS contact_enabled
FROM picked p
CROSS JOIN locked
LEFT JOIN notifier.endpoints e ON e.endpoint_id = p.endpoint_id
LEFT JOIN notifier.contacts c ON c.contact_id = p.contact_id
ORDER BY p.attempts > 0, p.next_attempt_at
"""

# How many due rows a claim looks at, per row it may lease: room for a few endpoints' worth of
# rows over their cap before the window runs out (they stay due; see `due` above).
_WINDOW_PER_ROW = 4

# The picked rows leased, but per endpoint only as many as its cap has room for: an endpoint may
# hold at most N leases, so a dead one never occupies every worker. The cap filter of _PICK read
# a snapshot that misses claims committing meanwhile; the endpoint locks _PICK took (until the
# unit ends) serialise claims for one endpoint, and this statement, begun after them with a new
# snapshot, counts every lease committed before: an exact cap. $1 the picked ids, $3 their
# endpoints (NULL for e-mail), in claim order.
_LEASE = """
WITH held AS (
    SELECT endpoint_id, count(*) AS n FROM notifier.deliveries
    WHERE endpoint_id = ANY($3::uuid[]) AND status = 'pending' AND claimed_until > $4
    GROUP BY endpoint_id
), ranked AS (
    SELECT id, endpoint_id, row_number() OVER (PARTITION BY endpoint_id ORDER BY nth) AS nth
    FROM unnest($1::uuid[], $3::uuid[]) WITH ORDINALITY AS w(id, endpoint_id, nth)
)
UPDATE notifier.deliveries d SET claimed_until = $2, next_attempt_at = $2
FROM ranked r LEFT JOIN held h ON h.endpoint_id = r.endpoint_id
WHERE d.delivery_id = r.id AND (r.endpoint_id IS NULL OR coalesce(h.n, 0) + r.nth <= $5)
-- full: this lease takes its endpoint to the cap (see Claim.held_back).
RETURNING d.delivery_id, r.endpoint_id IS NOT NULL AND coalesce(h.n, 0) + r.nth >= $5 AS full
"""

_LIST = (
    "SELECT delivery_id, event_id, event_type, channel, partner_id, request_id, endpoint_id, "
    "contact_id, status, attempts, last_error, next_attempt_at, created_at, last_attempt_at, "
    "delivered_at, failed_at FROM notifier.deliveries "
    "WHERE ($1::text IS NULL OR partner_id = $1) AND ($2::text IS NULL OR status = $2) "
    "ORDER BY created_at DESC LIMIT $3"
)


def _target(row: asyncpg.Record) -> WebhookTarget | EmailTarget:
    if row["endpoint_id"] is not None:
        return WebhookTarget(
            endpoint_id=row["endpoint_id"],
            url=row["url"],
            secret=row["secret"],
            previous_secret=row["previous_secret"],
            previous_secret_until=row["previous_secret_until"],
            failing_since=row["failing_since"],
            enabled=row["endpoint_enabled"],
        )
    return EmailTarget(
        contact_id=row["contact_id"],
        email=row["email"],
        language=row["language"],
        enabled=row["contact_enabled"],
    )


def _delivery(row: asyncpg.Record, lease: datetime) -> Delivery:
    return Delivery(
        delivery_id=row["delivery_id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        partner_id=row["partner_id"],
        request_id=row["request_id"],
        payload=row["payload"],
        attempts=row["attempts"],
        lease=lease,
        target=_target(row),
        traceparent=row["traceparent"],
    )


# NOTIFYed when a delivery becomes due now (queued, resent, recovered): idle workers wake at once
# (shared.doorbell). NOTIFY is transactional: they wake when the unit commits.
DUE_CHANNEL = "stax_deliveries_due"


@dataclass(frozen=True)
class Queued:
    """A delivery `add`ed, waiting to be written, and the trace context it was queued in: its
    sender continues this trace (shared.telemetry)."""

    delivery: NewDelivery
    traceparent: str | None


class DeliveryRepository:
    """notifier.deliveries. What `add` queues is gathered and written when the unit (or the
    savepoint it was queued in) ends, a batch's deliveries in one statement (shared.uow
    .Gathered); every other method writes them first, so it sees them."""

    def __init__(self, conn: Conn, queued: Gathered[Queued]) -> None:
        self._conn = conn
        self._queued = queued

    async def add(self, delivery: NewDelivery) -> None:
        """Queue a delivery; nothing is written if this event already has a delivery to this
        endpoint or contact (a redelivered event)."""
        self._queued.add([Queued(delivery, telemetry.current_traceparent())])

    async def _written(self) -> None:
        await self._queued.write(self._conn)

    @staticmethod
    async def write(conn: Conn, queued: Sequence[Queued]) -> None:
        # ON CONFLICT without a target: either unique key, (event_id, endpoint_id) for webhooks
        # or (event_id, contact_id) for e-mail, makes a redelivered event insert nothing.
        # One round trip: the NOTIFY rides on the insert, and only when a row went in.
        new = [q.delivery for q in queued]
        await conn.execute(
            "WITH added AS (INSERT INTO notifier.deliveries (delivery_id, event_id, event_type, "
            "endpoint_id, contact_id, channel, partner_id, request_id, payload, traceparent) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], "
            "$6::text[], $7::text[], $8::uuid[], $9::text[], $10::text[]) "
            "ON CONFLICT DO NOTHING RETURNING 1) "
            "SELECT pg_notify($11, '') WHERE EXISTS (SELECT FROM added)",
            [d.delivery_id for d in new],
            [d.event_id for d in new],
            [d.event_type for d in new],
            [d.endpoint_id for d in new],
            [d.contact_id for d in new],
            [d.channel for d in new],
            [d.partner_id for d in new],
            [d.request_id for d in new],
            [d.payload for d in new],
            [q.traceparent for q in queued],
            DUE_CHANNEL,
        )

    async def claim_due(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
    ) -> Delivery | None:
        """Lease the most urgent due delivery (see claim_batch); None when nothing is due."""
        claimed = await self.claim_batch(
            now=now,
            lease_until=lease_until,
            max_in_flight_per_endpoint=max_in_flight_per_endpoint,
            partners=partners,
            limit=1,
        )
        return claimed.deliveries[0] if claimed.deliveries else None

    async def claim_batch(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
        limit: int,
    ) -> Claim:
        """Lease up to `limit` of the most urgent due deliveries, most urgent first, with what
        sending them needs, never more leases per endpoint than the cap (those over it stay
        due). The leases hold once the unit commits. `held_back` when one of the batch's
        endpoints is now at its cap, or a picked row went to the cap of another claim: due
        rows may wait for its leases to be let go."""
        await self._written()
        # A plain index scan marks the entries of dead row versions as it passes them, so the
        # next claim skips them; a bitmap scan never does and must visit each one's heap page.
        # Every delivery is updated twice (lease, outcome), so between vacuums most entries of
        # the due index are dead: with bitmap scans (which the planner picks, knowing nothing of
        # them) a claim slowed as the table grew, 1.0 -> 2.4 ms over 48,000 deliveries; without,
        # it stays near 0.9 ms (make bench-claim, docs/benchmarks.md). For this transaction only.
        await self._conn.execute("SET LOCAL enable_bitmapscan = off")
        rows = await self._conn.fetch(
            _PICK, now, max_in_flight_per_endpoint, partners, limit, limit * _WINDOW_PER_ROW
        )
        if not rows:
            return Claim([])
        leased = {
            r["delivery_id"]: r["full"]
            for r in await self._conn.fetch(
                _LEASE,
                [r["delivery_id"] for r in rows],
                lease_until,
                [r["endpoint_id"] for r in rows],
                now,
                max_in_flight_per_endpoint,
            )
        }
        return Claim(
            [_delivery(r, lease_until) for r in rows if r["delivery_id"] in leased],
            held_back=any(leased.values()) or len(leased) < len(rows),
        )

    async def record_attempts(
        self, attempts: Sequence[tuple[UUID, datetime, AttemptRecord]]
    ) -> set[UUID]:
        """Store attempts' outcomes, each (delivery_id, lease, outcome) only if our lease still
        holds: a worker that outlived its lease (and whose row another worker re-claimed) must
        not overwrite the newer outcome. The ids stored; one statement for all of them."""
        await self._written()
        rows = await self._conn.fetch(
            "UPDATE notifier.deliveries d SET attempts = d.attempts + 1, status = u.status, "
            "last_error = u.error, next_attempt_at = coalesce(u.retry_at, d.next_attempt_at), "
            "claimed_until = NULL, last_attempt_at = u.at, "
            "delivered_at = CASE WHEN u.status = 'delivered' THEN u.at END, "
            "failed_at = CASE WHEN u.status = 'failed' THEN u.at END "
            "FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], "
            "$5::timestamptz[], $6::timestamptz[]) AS u(id, lease, status, error, retry_at, at) "
            # ANY: the rows are found by their key (a join on unnest alone, estimated at 100
            # rows, scanned the whole table: 2.5 ms a call in bench-e2e).
            "WHERE d.delivery_id = ANY($1::uuid[]) AND d.delivery_id = u.id "
            "AND d.claimed_until = u.lease "
            "RETURNING d.delivery_id",
            [delivery_id for delivery_id, _, _ in attempts],
            [lease for _, lease, _ in attempts],
            [o.status for _, _, o in attempts],
            [o.error for _, _, o in attempts],
            [o.next_attempt_at for _, _, o in attempts],
            [o.at for _, _, o in attempts],
        )
        return {r["delivery_id"] for r in rows}

    async def recent(
        self, *, partner_id: str | None, status: str | None, limit: int
    ) -> list[DeliveryStatus]:
        await self._written()
        rows = await self._conn.fetch(_LIST, partner_id, status, limit)
        return [DeliveryStatus(**dict(r)) for r in rows]

    async def resend(self, delivery_id: UUID, now: datetime) -> bool:
        """Back to pending with a fresh schedule; same delivery_id, so the same webhook-id."""
        await self._written()
        resent = await self._conn.fetch(
            "WITH resent AS (UPDATE notifier.deliveries SET status = 'pending', attempts = 0, "
            "next_attempt_at = $2, claimed_until = NULL, failed_at = NULL "
            "WHERE delivery_id = $1 AND status <> 'pending' RETURNING 1) "
            "SELECT pg_notify($3, '') FROM resent",
            delivery_id,
            now,
            DUE_CHANNEL,
        )
        return len(resent) == 1

    async def recover_failed(
        self, *, since: datetime, partner_id: str | None, now: datetime
    ) -> int:
        await self._written()
        result: str = await self._conn.execute(
            "UPDATE notifier.deliveries SET status = 'pending', attempts = 0, "
            "next_attempt_at = $3, claimed_until = NULL, failed_at = NULL "
            "WHERE status = 'failed' AND failed_at >= $1 "
            "AND ($2::text IS NULL OR partner_id = $2)",
            since,
            partner_id,
            now,
        )
        recovered = int(result.rsplit(maxsplit=1)[-1])
        if recovered:
            await self._conn.execute("SELECT pg_notify($1, '')", DUE_CHANNEL)
        return recovered

    async def queued_within(self, contact_id: UUID, event_type: str, window: timedelta) -> bool:
        """Whether a delivery of `event_type` to this contact was queued in the last `window`."""
        await self._written()
        # The database's clock on both sides: created_at is its now() at the insert, so the
        # window never depends on how far another machine's clock (the event's time) drifts.
        # Index deliveries_contact_recent (migration 0004).
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM notifier.deliveries WHERE contact_id = $1 "
                "AND event_type = $2 AND created_at > now() - $3::interval)",
                contact_id,
                event_type,
                window,
            )
        )

    async def exists(self, delivery_id: UUID) -> bool:
        await self._written()
        return bool(
            await self._conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM notifier.deliveries WHERE delivery_id = $1)",
                delivery_id,
            )
        )

    async def redact_request(self, request_id: UUID, contact_id: UUID) -> None:
        """Drop the Party's contact from a request's stored bodies, and the errors of mail to
        it (an SMTP refusal may quote its address). Pending mail to it then fails as "contact
        removed"."""
        await self._written()
        await self._conn.execute(
            "UPDATE notifier.deliveries SET "
            "payload = CASE WHEN (payload::jsonb -> 'data') ? 'contact' "
            "  THEN (payload::jsonb #- '{data,contact}')::text ELSE payload END, "
            "last_error = CASE WHEN contact_id = $2 THEN NULL ELSE last_error END "
            "WHERE request_id = $1",
            request_id,
            contact_id,
        )
