"""The published language: every cross-service event, its CloudEvents type and its topic.

Event data is JSON in snake_case (product brief §3). Models are frozen: an event is a fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints

from shared import bounds, topics
from shared.bounds import clipping

# A code from reference data (taxonomy, chemicals, languages): short by construction, so a long
# one is refused by its length before anyone looks it up or quotes it.
Code = Annotated[str, StringConstraints(max_length=bounds.MAX_CODE)]
Codes = Annotated[list[Code], Field(max_length=bounds.MAX_CODES)]


class Event(BaseModel):
    """Base of all event data; subclasses name their `ce_type` and topic."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    ce_type: ClassVar[str]
    topic: ClassVar[str]


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str = Field(
        description="Person to contact at the requesting Party", max_length=bounds.MAX_PERSON_NAME
    )
    email: EmailStr = Field(description="Their e-mail address", max_length=bounds.MAX_EMAIL)
    organisation: str = Field(
        description="Ministry, agency or body they work for", max_length=bounds.MAX_ORGANISATION
    )


class RequestSubmission(BaseModel):
    """What a submitter sends, over HTTP or as `ta.request.submitted`. Every field is bounded
    (shared.bounds); unknown keys are ignored, so they are neither stored nor echoed back."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    external_ref: str = Field(
        description="The submitter's own id for this request", max_length=bounds.MAX_EXTERNAL_REF
    )
    party: str = Field(
        description="ISO 3166-1 alpha-3 code of the requesting Party, or EUR",
        max_length=bounds.MAX_PARTY,
    )
    title: str = Field(description="Short title of the request", max_length=bounds.MAX_TITLE)
    description: str = Field(
        description="What help is needed, and why", max_length=bounds.MAX_DESCRIPTION
    )
    topics: Codes = Field(description="Topic codes from the taxonomy", min_length=1)
    assistance_types: Codes = Field(description="Assistance-type codes from the taxonomy")
    pops: Codes = Field(default_factory=list, description="Chemical ids concerned (optional)")
    languages: Codes = Field(description="ISO 639-1 codes of UN languages to work in")
    urgency: Urgency = Field(default=Urgency.ROUTINE, description="routine or urgent")
    needed_by: date | None = Field(default=None, description="Date the help is needed by")
    contact: Contact = Field(description="Who to contact at the requesting Party")


class RequestSubmitted(Event, RequestSubmission):
    ce_type: ClassVar[str] = "ta.request.submitted"
    topic: ClassVar[str] = topics.REQUESTS_SUBMITTED


class Eligibility(BaseModel):
    model_config = ConfigDict(frozen=True)
    developing: bool = Field(description="A developing-country Party")
    economy_in_transition: bool = Field(description="A Party with an economy in transition")
    ldc: bool = Field(description="A least developed country")
    sids: bool = Field(description="A small island developing State")


class RequestAccepted(Event, RequestSubmission):
    """A submission intake accepted. Its texts are read with the looser limits of earlier
    versions (shared.bounds), so that events published under them stay readable on replay."""

    ce_type: ClassVar[str] = "ta.request.accepted"
    topic: ClassVar[str] = topics.REQUESTS
    external_ref: str = Field(
        description="The submitter's own id for this request",
        max_length=bounds.ACCEPTED_MAX_EXTERNAL_REF,
    )
    title: str = Field(
        description="Short title of the request", max_length=bounds.ACCEPTED_MAX_TITLE
    )
    description: str = Field(
        description="What help is needed, and why", max_length=bounds.ACCEPTED_MAX_DESCRIPTION
    )
    request_id: UUID = Field(description="STAX id of the request; also the Kafka key")
    submitter: str = Field(description="Name of the submitting system or API key")
    region: str = Field(description="UN regional group of the Party (AFR, APAC, CEE, GRULAC, WEOG)")
    eligibility: Eligibility = Field(description="Eligibility flags derived from reference data")
    accepted_at: datetime = Field(description="When intake accepted the request (UTC)")


class RequestErased(Event):
    """An operator erased a request's personal data (its contact): every service that keeps a
    copy blanks it in its own schema when it applies this event. Kafka records already written
    cannot be rewritten; topic retention bounds how long they keep the contact."""

    ce_type: ClassVar[str] = "ta.request.erased"
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request whose personal data was erased")
    erased_at: datetime = Field(description="When the operator asked for the erasure (UTC)")


class FieldError(BaseModel):
    """One reason a submission was refused; the same shape feeds HTTP 422 bodies and events.

    Its texts are clipped rather than refused: they are built from untrusted input, and an
    error about an error would lose the answer."""

    model_config = ConfigDict(frozen=True)
    field: Annotated[str | None, clipping(bounds.MAX_ERROR_FIELD)] = Field(
        description="Dotted path of the offending field; null when no single field is at fault",
        max_length=bounds.MAX_ERROR_FIELD,
    )
    code: Annotated[str, clipping(bounds.MAX_ERROR_CODE)] = Field(
        description="Stable machine-readable reason, e.g. not_a_party",
        max_length=bounds.MAX_ERROR_CODE,
    )
    message: Annotated[str, clipping(bounds.MAX_ERROR_MESSAGE)] = Field(
        description="Human-readable explanation", max_length=bounds.MAX_ERROR_MESSAGE
    )


def cap_errors(errors: Sequence[FieldError]) -> list[FieldError]:
    """At most MAX_ERRORS errors and one that counts the rest: an answer's size must not grow
    with its input. Idempotent: a list already within MAX_ERRORS + 1 entries is kept whole."""
    if len(errors) <= bounds.MAX_ERRORS + 1:
        return list(errors)
    more = len(errors) - bounds.MAX_ERRORS
    summary = FieldError(field=None, code="too_many_errors", message=f"… and {more} more")
    return [*errors[: bounds.MAX_ERRORS], summary]


def _capped(value: object) -> object:
    return cap_errors(value) if isinstance(value, list) else value  # pydantic types the rest


def _ref_or_none(value: object) -> object:
    # An overlong ref is not a ref (the submission was refused for it): it is not echoed back.
    # The submitter correlates by the Kafka key, its submission's ce_id, in any case.
    too_long = isinstance(value, str) and len(value) > bounds.MAX_EXTERNAL_REF
    return None if too_long else value


class RequestRejected(Event):
    """Built from untrusted input, so bounded by construction: overlong texts are clipped or
    dropped and the error list capped, whoever builds it."""

    ce_type: ClassVar[str] = "ta.request.rejected"
    topic: ClassVar[str] = topics.REQUESTS
    external_ref: Annotated[str | None, BeforeValidator(_ref_or_none)] = Field(
        description="The submitter's own id, when it could be read (null if it was overlong)",
        max_length=bounds.MAX_EXTERNAL_REF,
    )
    submitter: Annotated[str, clipping(bounds.MAX_PERSON_NAME)] = Field(
        description="Name of the submitting system", max_length=bounds.MAX_PERSON_NAME
    )
    errors: Annotated[list[FieldError], BeforeValidator(_capped)] = Field(
        description=f"Why the submission was refused: at most {bounds.MAX_ERRORS} errors, then "
        "one with code too_many_errors that counts the rest",
        max_length=bounds.MAX_ERRORS + 1,
    )


class Role(StrEnum):
    LEAD = "lead"
    SUPPORT = "support"


class AssignmentOffered(Event):
    ce_type: ClassVar[str] = "ta.assignment.offered"
    topic: ClassVar[str] = topics.ASSIGNMENTS
    assignment_id: UUID = Field(description="Id of this offer")
    request_id: UUID = Field(description="The request offered")
    partner_id: str = Field(description="The partner the work is offered to")
    partner_name: str = Field(description="Display name of that partner")
    role: Role = Field(description="lead or support")
    score: float = Field(ge=0, le=1, description="Match score, 0 to 1")
    reasons: list[str] = Field(description="Why this partner, in words a person can check")
    covers_topics: list[str] = Field(description="Requested topic codes this partner covers")
    respond_by: datetime = Field(description="Deadline to accept or decline (UTC)")


class AssignmentOutcome(Event):
    """Shared shape of the accepted / declined / expired outcomes of an offer."""

    topic: ClassVar[str] = topics.ASSIGNMENTS
    assignment_id: UUID = Field(description="The offer concerned")
    request_id: UUID = Field(description="Its request")
    partner_id: str = Field(description="The partner it was offered to")
    reason: str = Field(default="", description="The partner's reason, or why it expired")


class AssignmentAccepted(AssignmentOutcome):
    ce_type: ClassVar[str] = "ta.assignment.accepted"


class AssignmentDeclined(AssignmentOutcome):
    ce_type: ClassVar[str] = "ta.assignment.declined"


class AssignmentExpired(AssignmentOutcome):
    ce_type: ClassVar[str] = "ta.assignment.expired"


class AssignmentStarted(AssignmentOutcome):
    ce_type: ClassVar[str] = "ta.assignment.started"


class AssignmentWithdrawn(AssignmentOutcome):
    """Accepted work the partner gave up: its capacity is free again and the slot re-offered."""

    ce_type: ClassVar[str] = "ta.assignment.withdrawn"


# A link to a deliverable: http(s) only (a person will click it), bounded like any URL.
DeliverableUrl = Annotated[
    str, StringConstraints(max_length=bounds.MAX_URL, pattern=r"^https?://[^\s]+$")
]
Deliverables = Annotated[list[DeliverableUrl], Field(max_length=bounds.MAX_DELIVERABLES)]


class AssignmentCompleted(AssignmentOutcome):
    ce_type: ClassVar[str] = "ta.assignment.completed"
    outcome: str = Field(
        default="", max_length=bounds.MAX_OUTCOME, description="What the partner delivered"
    )
    deliverables: Deliverables = Field(
        default_factory=list, description="Links to reports, materials or data (http/https)"
    )


# Every word a partner may say about an offer, in the order work goes: accept or decline an
# offer; then start, complete or withdraw from accepted work (brief §7.2).
Decision = Literal["accept", "decline", "start", "complete", "withdraw"]


class AssignmentResponse(Event):
    ce_type: ClassVar[str] = "ta.assignment.response"
    topic: ClassVar[str] = topics.ASSIGNMENT_RESPONSES
    assignment_id: UUID = Field(description="The offer answered")
    partner_id: str = Field(description="The answering partner")
    decision: Decision = Field(description="accept, decline, start, complete or withdraw")
    reason: str = Field(
        default="", max_length=bounds.MAX_REASON, description="Optional explanation"
    )
    outcome: str = Field(
        default="",
        max_length=bounds.MAX_OUTCOME,
        description="complete only: what was delivered",
    )
    deliverables: Deliverables = Field(
        default_factory=list, description="complete only: links to what was delivered"
    )


class RequestMatchOutcome(Event):
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request")
    partners: list[str] = Field(description="Partner ids that accepted")
    uncovered_topics: list[str] = Field(description="Requested topics nobody covers")


class RequestMatched(RequestMatchOutcome):
    ce_type: ClassVar[str] = "ta.request.matched"


class RequestUnmatched(RequestMatchOutcome):
    ce_type: ClassVar[str] = "ta.request.unmatched"


class RequestWaiting(Event):
    """Partners exist who could serve the request, but all are at capacity: it waits (oldest
    first, urgent before routine) and is matched as soon as one of them has room."""

    ce_type: ClassVar[str] = "ta.request.waiting"
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request")
    partners: list[str] = Field(description="The capable partners it waits for (all full)")
    topics: list[str] = Field(description="The requested topics still to be offered")
    reason: str = Field(description="Why it waits, in words a person can check")


class RequestCompleted(Event):
    """Every accepted slot of a settled request was completed by its partner."""

    ce_type: ClassVar[str] = "ta.request.completed"
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request")
    partners: list[str] = Field(description="Partner ids that completed work on it")


ClosedBy = Literal["submitter", "operator"]
Rating = Annotated[int, Field(ge=1, le=5)]


class RequestClosing(Event):
    """intake heard the submitter's feedback, or an operator's decision, to close a request;
    matcher owns the request's state and answers with ta.request.closed."""

    ce_type: ClassVar[str] = "ta.request.closing"
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request to close")
    closed_by: ClosedBy = Field(description="submitter (with feedback) or operator")
    rating: Rating | None = Field(default=None, description="The submitter's rating, 1 to 5")
    comment: str = Field(default="", max_length=bounds.MAX_COMMENT, description="Feedback")


class RequestClosed(Event):
    ce_type: ClassVar[str] = "ta.request.closed"
    topic: ClassVar[str] = topics.REQUESTS
    request_id: UUID = Field(description="The request")
    closed_by: ClosedBy = Field(description="submitter (with feedback) or operator")
    rating: Rating | None = Field(default=None, description="The submitter's rating, 1 to 5")
    comment: str = Field(default="", max_length=bounds.MAX_COMMENT, description="Feedback")


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"
    KAFKA = "kafka"


class NotificationOutcome(Event):
    topic: ClassVar[str] = topics.NOTIFICATIONS
    delivery_id: UUID = Field(description="Notifier's delivery id (also the webhook-id)")
    event_id: UUID = Field(description="ce_id of the event notified about")
    request_id: UUID | None = Field(default=None, description="The request concerned")
    partner_id: str = Field(description="The partner (or Party contact) notified")
    channel: Channel = Field(description="webhook, email or kafka")
    attempts: int = Field(ge=0, description="Attempts made so far")
    last_error: str | None = Field(default=None, description="The last failure, if any")


class NotificationDelivered(NotificationOutcome):
    ce_type: ClassVar[str] = "ta.notification.delivered"


class NotificationFailed(NotificationOutcome):
    ce_type: ClassVar[str] = "ta.notification.failed"


PortalLanguage = Literal["en", "fr", "es"]


class PortalSignInRequested(Event):
    """Someone asked intake's partner portal for a sign-in link; notifier e-mails one to each
    partner contact registered with that address, and to nobody else. The address itself never
    travels: only the SHA-256 of its trimmed, lower-cased form (shared.sign_in_links)."""

    ce_type: ClassVar[str] = "ta.portal.sign_in_requested"
    topic: ClassVar[str] = topics.PORTAL_SIGN_IN
    email_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="The address's digest")
    language: PortalLanguage = Field(description="The portal page's language")


ALL_EVENTS: tuple[type[Event], ...] = (
    RequestSubmitted,
    RequestAccepted,
    RequestRejected,
    RequestErased,
    AssignmentOffered,
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentStarted,
    AssignmentCompleted,
    AssignmentWithdrawn,
    AssignmentResponse,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
    RequestCompleted,
    RequestClosing,
    RequestClosed,
    NotificationDelivered,
    NotificationFailed,
    PortalSignInRequested,
)
