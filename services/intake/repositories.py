"""SQL for intake's own tables (schema `intake`), one class per group of tables.

Each repository is built on the unit of work's connection, so it runs in the unit's transaction;
it returns the domain's models, never database rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast, get_args
from uuid import UUID

from services.intake.domain.dead_letters import Replayed
from services.intake.domain.model import (
    Answer,
    Assignment,
    Closure,
    Decision,
    Fingerprinted,
    Milestones,
    Note,
    OfferStatus,
    OfferSummary,
    PartnerOffer,
    RequestStatus,
    StatusMark,
    TimelineEntry,
    TrackedRequest,
)
from services.intake.domain.reporting import WAS_ACCEPTED, RequestFacts, Window, WorkFacts
from shared.db import Conn
from shared.events import AssignmentOffered, NotificationFailed, RequestAccepted
from shared.uow import Gathered

# NOTIFYed with an assignment's id when its offer is recorded: a partner's answer that came
# before intake read the offer waits for it (handlers.answers.once_offered).
OFFERS_CHANNEL = "stax_intake_offers"


class PgRequests:
    """intake.requests and intake.idempotency_keys."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        # A request's outcomes topic is set when it is recorded and never changes: read once per
        # unit (a batch copies several of a request's events), or with the status lock.
        self._outcomes_topics: dict[UUID, str | None] = {}

    async def by_ref(self, submitter: str, external_ref: str) -> Fingerprinted | None:
        row = await self._conn.fetchrow(
            "SELECT request_id, body_hash FROM intake.requests "
            "WHERE submitter = $1 AND external_ref = $2",
            submitter,
            external_ref,
        )
        return None if row is None else Fingerprinted(row["request_id"], row["body_hash"])

    async def by_idempotency_key(self, submitter: str, key: str) -> Fingerprinted | None:
        row = await self._conn.fetchrow(
            "SELECT request_id, body_hash FROM intake.idempotency_keys "
            "WHERE submitter = $1 AND idempotency_key = $2",
            submitter,
            key,
        )
        return None if row is None else Fingerprinted(row["request_id"], row["body_hash"])

    async def add(
        self, event: RequestAccepted, body_hash: str, *, note: Note, outcomes_topic: str | None
    ) -> bool:
        """Record an accepted request and its first timeline entry (`note`, its accepted event's).

        False if (submitter, external_ref) is taken; a concurrent twin's INSERT makes this one wait
        for its commit, so the caller can then read the winner. One statement, one round trip."""
        status: str = await self._conn.execute(
            "WITH r AS ("
            " INSERT INTO intake.requests (request_id, submitter, external_ref, body_hash, party,"
            " status, submission, accepted_at, outcomes_topic, region, topics)"
            " VALUES ($1, $2, $3, $4, $5, 'accepted', $6::jsonb, $7, $11, $13, $14)"
            " ON CONFLICT (submitter, external_ref) DO NOTHING RETURNING request_id) "
            "INSERT INTO intake.timeline (ce_id, request_id, at, event_type, summary) "
            "SELECT $8, request_id, $12, $9, $10 FROM r",
            event.request_id,
            event.submitter,
            event.external_ref,
            body_hash,
            event.party,
            event.model_dump_json(),
            event.accepted_at,
            note.ce_id,
            note.entry.event_type,
            note.entry.summary,
            outcomes_topic,
            note.entry.at,
            event.region,
            event.topics,
        )
        return status == "INSERT 0 1"

    async def add_idempotency_key(
        self, submitter: str, key: str, request_id: UUID, body_hash: str
    ) -> bool:
        """False if a twin recorded this key first (ON CONFLICT: no error, no rollback)."""
        status: str = await self._conn.execute(
            "INSERT INTO intake.idempotency_keys"
            " (submitter, idempotency_key, request_id, body_hash)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            submitter,
            key,
            request_id,
            body_hash,
        )
        return status == "INSERT 0 1"

    async def view(self, request_id: UUID) -> TrackedRequest | None:
        """The request with its timeline, oldest first. One statement, so one snapshot: with two,
        a match committed between them would show a timeline that ends "matched" under a status
        still "matching"."""
        row = await self._conn.fetchrow(
            "SELECT r.request_id, r.status, r.submitter, r.external_ref, r.party, r.accepted_at,"
            " ARRAY(SELECT ROW(t.at, t.event_type, t.partner_id, t.summary)"
            "  FROM intake.timeline t WHERE t.request_id = r.request_id"
            "  ORDER BY t.at, t.ce_id) AS timeline "
            "FROM intake.requests r WHERE r.request_id = $1",
            request_id,
        )
        if row is None:
            return None
        return TrackedRequest(
            request_id=row["request_id"],
            status=_request_status(row["status"]),
            submitter=row["submitter"],
            external_ref=row["external_ref"],
            party=row["party"],
            accepted_at=row["accepted_at"],
            timeline=[TimelineEntry(*entry) for entry in row["timeline"]],
        )

    async def lock_status(self, request_id: UUID) -> StatusMark | None:
        """The request's status, its row locked until the unit ends: the consumers of
        ta.requests.v1 and ta.assignments.v1 apply one request's events at the same time, and
        each decides from the status the other left (domain.progress)."""
        row = await self._conn.fetchrow(
            "SELECT status, status_at, outcomes_topic FROM intake.requests "
            "WHERE request_id = $1 FOR UPDATE",
            request_id,
        )
        if row is None:
            return None
        self._outcomes_topics[request_id] = row["outcomes_topic"]
        return StatusMark(_request_status(row["status"]), row["status_at"])

    async def set_status(self, request_id: UUID, mark: StatusMark) -> None:
        await self._conn.execute(
            "UPDATE intake.requests SET status = $2, status_at = $3 WHERE request_id = $1",
            request_id,
            mark.status,
            mark.at,
        )

    async def record(
        self, request_id: UUID, milestones: Milestones, *, status: StatusMark | None = None
    ) -> None:
        """Keep what the report needs; a time already known is kept if earlier (least() skips
        NULLs), so events applied again or out of order leave the first of each. With `status`,
        the request moves to it in the same statement (what set_status does, a round trip less)."""
        uncovered = milestones.uncovered_topics
        await self._conn.execute(
            "UPDATE intake.requests SET"
            " status = coalesce($10, status), status_at = coalesce($11, status_at),"
            " first_offer_at = least(first_offer_at, $2), matched_at = least(matched_at, $3),"
            " completed_at = least(completed_at, $4),"
            " uncovered_topics = coalesce($5, uncovered_topics),"
            # The first closure is kept whole (the matcher closes a request once; a repeat is
            # a redelivery). On the right of SET, closed_at is the row's value before.
            " closed_by = CASE WHEN closed_at IS NULL THEN $7 ELSE closed_by END,"
            " rating = CASE WHEN closed_at IS NULL THEN $8 ELSE rating END,"
            # A comment heard after an erasure is not kept: it may be as personal as the contact.
            " feedback_comment = CASE WHEN closed_at IS NULL AND erased_at IS NULL"
            "  THEN $9 ELSE feedback_comment END,"
            " closed_at = coalesce(closed_at, $6) "
            "WHERE request_id = $1",
            request_id,
            milestones.first_offer_at,
            milestones.matched_at,
            milestones.completed_at,
            None if uncovered is None else list(uncovered),
            *_closure_params(milestones.closure),
            None if status is None else status.status,
            None if status is None else status.at,
        )

    async def outcomes_topic_of(self, request_id: UUID) -> str | None:
        """Where a request's events are copied for its submitter (tenant submissions only)."""
        if request_id in self._outcomes_topics:
            return self._outcomes_topics[request_id]
        topic: str | None = await self._conn.fetchval(
            "SELECT outcomes_topic FROM intake.requests WHERE request_id = $1", request_id
        )
        self._outcomes_topics[request_id] = topic
        return topic

    async def lock_for_erasure(self, request_id: UUID) -> tuple[bool, datetime | None]:
        """(found, erased_at), the request row locked: two operators erasing at once then emit
        one event, not two."""
        row = await self._conn.fetchrow(
            "SELECT erased_at FROM intake.requests WHERE request_id = $1 FOR UPDATE", request_id
        )
        return (False, None) if row is None else (True, row["erased_at"])

    async def erase_contact(self, request_id: UUID, *, erased_at: datetime) -> None:
        """Drop the contact from the stored submission (nothing else in it is personal data) and
        blank the submitter's feedback comment; the first erasure's time is kept."""
        await self._conn.execute(
            "UPDATE intake.requests SET submission = submission - 'contact', "
            "feedback_comment = '', erased_at = coalesce(erased_at, $2) WHERE request_id = $1",
            request_id,
            erased_at,
        )

    async def ask_closing(self, request_id: UUID, at: datetime) -> bool:
        """True the first time a closing is asked for this request."""
        status: str = await self._conn.execute(
            "UPDATE intake.requests SET closing_asked_at = $2 "
            "WHERE request_id = $1 AND closing_asked_at IS NULL",
            request_id,
            at,
        )
        return status == "UPDATE 1"

    async def is_erased(self, request_id: UUID) -> bool:
        erased: bool | None = await self._conn.fetchval(
            "SELECT erased_at IS NOT NULL FROM intake.requests WHERE request_id = $1", request_id
        )
        return bool(erased)


class PgTimeline:
    """intake.timeline: what happened to each request, one entry per event (ce_id).

    Entries are gathered and written when the unit ends (`shared.uow.Gathered`): a batch of
    events notes its entries in one statement."""

    def __init__(self, conn: Conn, notes: Gathered[Note]) -> None:
        self._conn = conn
        self._notes = notes

    async def add(self, note: Note) -> None:
        self._notes.add([note])

    @staticmethod
    async def write(conn: Conn, notes: Sequence[Note]) -> None:
        # ON CONFLICT: intake writes its own events here when it emits them and sees them again
        # when it consumes them; one entry per ce_id either way (twice in `notes` included).
        await conn.execute(
            "INSERT INTO intake.timeline (ce_id, request_id, at, event_type, partner_id, summary) "
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], "
            "$5::text[], $6::text[]) ON CONFLICT (ce_id) DO NOTHING",
            [n.ce_id for n in notes],
            [n.request_id for n in notes],
            [n.entry.at for n in notes],
            [n.entry.event_type for n in notes],
            [n.entry.partner_id for n in notes],
            [n.entry.summary for n in notes],
        )

    async def redact_notification_errors(self, request_id: UUID) -> None:
        """Entries of failed notifications quote the error, which may name the Party contact's
        address: keep that it failed, drop why."""
        await self._notes.write(self._conn)  # entries noted earlier in this unit too
        await self._conn.execute(
            "UPDATE intake.timeline SET summary = split_part(summary, ': ', 1) || ': (erased)' "
            "WHERE request_id = $1 AND event_type = $2",
            request_id,
            NotificationFailed.ce_type,
        )


class PgAssignments:
    """intake.assignments (offers, as the matcher announced them) and intake.assignment_answers."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def add_offer(self, offer: AssignmentOffered, at: datetime) -> None:
        """Record the offer, and announce it on OFFERS_CHANNEL to answers already waiting for
        it (the notice is sent when the unit commits, and not if it rolls back)."""
        await self._conn.execute(
            "WITH added AS (INSERT INTO intake.assignments (assignment_id, request_id, "
            "partner_id, partner_name, role, score, respond_by, offered_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (assignment_id) DO NOTHING RETURNING assignment_id) "
            "SELECT pg_notify($9, assignment_id::text) FROM added",
            offer.assignment_id,
            offer.request_id,
            offer.partner_id,
            offer.partner_name,
            offer.role.value,
            offer.score,
            offer.respond_by,
            at,
            OFFERS_CHANNEL,
        )

    async def set_status(self, assignment_id: UUID, status: OfferStatus, *, at: datetime) -> None:
        """Move the offer to `status`, heard at `at`; the first time of each step is kept."""
        await self._conn.execute(
            "UPDATE intake.assignments SET status = $2, updated_at = now(),"
            " accepted_at = CASE $2 WHEN 'accepted' THEN coalesce(accepted_at, $3)"
            "  ELSE accepted_at END,"
            " started_at = CASE $2 WHEN 'started' THEN coalesce(started_at, $3)"
            "  ELSE started_at END,"
            " completed_at = CASE $2 WHEN 'completed' THEN coalesce(completed_at, $3)"
            "  ELSE completed_at END,"
            " withdrawn_at = CASE $2 WHEN 'withdrawn' THEN coalesce(withdrawn_at, $3)"
            "  ELSE withdrawn_at END "
            "WHERE assignment_id = $1",
            assignment_id,
            status,
            at,
        )

    async def lock(self, assignment_id: UUID) -> Assignment | None:
        # FOR UPDATE: two answers to one offer racing each other are serialised here; the second
        # then reads the first's answer (answers_to, a later statement, sees the committed rows).
        row = await self._conn.fetchrow(
            "SELECT assignment_id, request_id, partner_id, status FROM intake.assignments "
            "WHERE assignment_id = $1 FOR UPDATE",
            assignment_id,
        )
        if row is None:
            return None
        return Assignment(
            row["assignment_id"], row["request_id"], row["partner_id"], _offer_status(row["status"])
        )

    async def answers_to(self, assignment_id: UUID) -> list[Decision]:
        """The decisions already recorded for this assignment, oldest first."""
        rows = await self._conn.fetch(
            "SELECT decision FROM intake.assignment_answers WHERE assignment_id = $1 "
            "ORDER BY answered_at",
            assignment_id,
        )
        return [_decision(r["decision"]) for r in rows]

    async def add_answer(self, answer: Answer) -> None:
        await self._conn.execute(
            "INSERT INTO intake.assignment_answers (assignment_id, partner_id, decision, reason, "
            "ce_id, answered_at, outcome, deliverables) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            answer.assignment_id,
            answer.partner_id,
            answer.decision,
            answer.reason,
            answer.ce_id,
            answer.answered_at,
            answer.outcome,
            list(answer.deliverables),
        )

    async def of_partner(self, partner_id: str) -> list[PartnerOffer]:
        """The partner's latest 500 offers, newest first, each with its answer once given."""
        rows = await self._conn.fetch(
            "SELECT a.assignment_id, a.request_id, a.partner_name, a.role, a.score, a.respond_by,"
            " a.status, a.offered_at, w.decision "
            "FROM intake.assignments a LEFT JOIN intake.assignment_answers w "
            "ON w.assignment_id = a.assignment_id AND w.decision IN ('accept', 'decline') "
            "WHERE a.partner_id = $1 ORDER BY a.offered_at DESC LIMIT 500",
            partner_id,
        )
        return [_partner_offer(row) for row in rows]

    async def summary(self, assignment_id: UUID) -> OfferSummary | None:
        """The offer with what its answer page shows of the request (a read: no lock)."""
        row = await self._conn.fetchrow(
            "SELECT a.assignment_id, a.request_id, a.partner_id, a.partner_name, a.role,"
            " a.respond_by, a.status, coalesce(r.submission ->> 'title', '') AS title,"
            " coalesce(r.party, '') AS party, coalesce(r.topics, '{}') AS topics,"
            " (SELECT w.decision FROM intake.assignment_answers w"
            "  WHERE w.assignment_id = a.assignment_id AND w.decision IN ('accept', 'decline')"
            "  ORDER BY w.answered_at LIMIT 1) AS answer "
            "FROM intake.assignments a LEFT JOIN intake.requests r ON r.request_id = a.request_id "
            "WHERE a.assignment_id = $1",
            assignment_id,
        )
        if row is None:
            return None
        return OfferSummary(
            assignment_id=row["assignment_id"],
            request_id=row["request_id"],
            partner_id=row["partner_id"],
            partner_name=row["partner_name"],
            role=row["role"],
            respond_by=row["respond_by"],
            status=_offer_status(row["status"]),
            title=row["title"],
            party=row["party"],
            topics=tuple(row["topics"]),
            answer=None if row["answer"] is None else _decision(row["answer"]),
        )


class PgAnswerLinks:
    """intake.used_answer_links: the digests of the one-click links already confirmed."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def use(self, digest: str, assignment_id: UUID, at: datetime) -> bool:
        """True the first time; a concurrent twin waits on the primary key for this one's
        commit, then finds it (ON CONFLICT: no error, so no rollback of the unit)."""
        status: str = await self._conn.execute(
            "INSERT INTO intake.used_answer_links (digest, assignment_id, used_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
            digest,
            assignment_id,
            at,
        )
        return status == "INSERT 0 1"

    async def is_used(self, digest: str) -> bool:
        used: bool = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM intake.used_answer_links WHERE digest = $1)", digest
        )
        return used

    async def prune(self, now: datetime) -> int:
        """Forget the used links that can no longer verify anyway: answer links whose offer's
        respond_by (their expiry) has passed, sign-in links used over an hour ago (they live 15
        minutes). Nothing else remembers them, so the tables would grow for ever."""
        deleted: int = await self._conn.fetchval(
            "WITH answers AS (DELETE FROM intake.used_answer_links u"
            "  USING intake.assignments a"
            "  WHERE u.assignment_id = a.assignment_id AND a.respond_by < $1 RETURNING 1),"
            " sign_ins AS (DELETE FROM intake.used_sign_in_links"
            "  WHERE used_at < $1 - interval '1 hour' RETURNING 1) "
            "SELECT (SELECT count(*) FROM answers) + (SELECT count(*) FROM sign_ins)",
            now,
        )
        return deleted

    async def use_sign_in(self, digest: str, partner_id: str, at: datetime) -> bool:
        status: str = await self._conn.execute(
            "INSERT INTO intake.used_sign_in_links (digest, partner_id, used_at)"
            " VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
            digest,
            partner_id,
            at,
        )
        return status == "INSERT 0 1"


class PgDeadLetterReplays:
    """intake.dead_letter_replays: the dead letters already written back, by their offset."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def claim(self, replay: Replayed) -> bool:
        """True the first time; a concurrent twin waits on the primary key for this one's commit
        (or rollback: then it claims), then finds it (ON CONFLICT: no error, no rollback)."""
        status: str = await self._conn.execute(
            "INSERT INTO intake.dead_letter_replays"
            " (dead_letter_offset, original_topic, replayed_at, replayed_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (dead_letter_offset) DO NOTHING",
            replay.offset,
            replay.topic,
            replay.at,
            replay.by,
        )
        return status == "INSERT 0 1"

    async def of(self, offsets: Sequence[int]) -> dict[int, Replayed]:
        rows = await self._conn.fetch(
            "SELECT dead_letter_offset, original_topic, replayed_at, replayed_by"
            " FROM intake.dead_letter_replays WHERE dead_letter_offset = ANY($1::bigint[])",
            list(offsets),
        )
        return {
            r["dead_letter_offset"]: Replayed(
                r["dead_letter_offset"], r["original_topic"], r["replayed_at"], r["replayed_by"]
            )
            for r in rows
        }


class PgReports:
    """Reads for the assistance report: a few columns per request, none of the jsonb."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def assistance_facts(self, scope: Window) -> tuple[list[RequestFacts], list[WorkFacts]]:
        """The requests accepted in `scope` and their accepted work. One statement, so one
        snapshot: an assignment completed meanwhile is counted with its request's status."""
        rows = await self._conn.fetch(
            "SELECT r.request_id, r.party, r.region, r.topics, r.status, r.accepted_at,"
            " r.first_offer_at, r.matched_at, r.completed_at, r.rating, r.uncovered_topics,"
            " ARRAY(SELECT ROW(a.partner_id, a.status) FROM intake.assignments a"
            "  WHERE a.request_id = r.request_id AND a.status = ANY($3::text[])) AS work "
            "FROM intake.requests r "
            "WHERE ($1::timestamptz IS NULL OR r.accepted_at >= $1)"
            " AND ($2::timestamptz IS NULL OR r.accepted_at < $2)",
            scope.start,
            scope.end,
            sorted(WAS_ACCEPTED),
        )
        work = [
            WorkFacts(row["request_id"], partner, _offer_status(status))
            for row in rows
            for partner, status in row["work"]
        ]
        return [_request_facts(row) for row in rows], work


def _closure_params(
    closure: Closure | None,
) -> tuple[datetime | None, str | None, int | None, str]:
    """$6…$9 of `record`: NULLs (and no comment) when the event closes nothing."""
    if closure is None:
        return None, None, None, ""
    return closure.at, closure.closed_by, closure.rating, closure.comment


def _request_facts(row: Any) -> RequestFacts:
    return RequestFacts(
        request_id=row["request_id"],
        party=row["party"],
        region=row["region"],
        topics=tuple(row["topics"]),
        status=_request_status(row["status"]),
        accepted_at=row["accepted_at"],
        first_offer_at=row["first_offer_at"],
        matched_at=row["matched_at"],
        completed_at=row["completed_at"],
        rating=row["rating"],
        uncovered_topics=tuple(row["uncovered_topics"]),
    )


def _partner_offer(row: Any) -> PartnerOffer:
    return PartnerOffer(
        assignment_id=row["assignment_id"],
        request_id=row["request_id"],
        partner_name=row["partner_name"],
        role=row["role"],
        score=row["score"],
        respond_by=row["respond_by"],
        status=_offer_status(row["status"]),
        offered_at=row["offered_at"],
        answer=row["decision"],
    )


def _request_status(value: str) -> RequestStatus:
    if value not in get_args(RequestStatus):
        raise ValueError(f"unknown request status {value!r}")
    return cast(RequestStatus, value)


def _offer_status(value: str) -> OfferStatus:
    if value not in get_args(OfferStatus):
        raise ValueError(f"unknown offer status {value!r}")
    return cast(OfferStatus, value)


def _decision(value: str) -> Decision:
    if value not in get_args(Decision):
        raise ValueError(f"unknown decision {value!r}")
    return cast(Decision, value)
