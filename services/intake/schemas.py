"""intake's HTTP bodies: what its routes answer, as documented in its OpenAPI document.

The submission itself is `shared.events.RequestSubmission` (the published language), read once
by the route and validated by the domain."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.model import Decision
from shared import bounds
from shared.events import Deliverables, Rating


class SubmitAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"request_id": "c19a2179-5b7e-4f0e-9d7a-2f1f3c1b8e42", "status": "accepted"}
            ]
        }
    )
    request_id: UUID = Field(description="STAX id of the request")
    status: str = Field(description="Current status: accepted")


class TimelineEntry(BaseModel):
    at: datetime = Field(description="When it happened (the event's time, UTC)")
    event: str = Field(description="CloudEvents type of the event, e.g. ta.assignment.offered")
    partner_id: str | None = Field(description="The partner concerned, if any")
    summary: str = Field(description="What happened, in words")


class RequestView(BaseModel):
    request_id: UUID
    external_ref: str = Field(description="The submitter's own id")
    submitter: str = Field(
        description="Who submitted it: its submitter id (API key or Kafka tenant), or a trusted "
        "in-cluster producer's ce_source"
    )
    party: str = Field(description="Requesting Party")
    status: str = Field(
        description="accepted, matching, waiting, matched, unmatched, completed or closed"
    )
    accepted_at: datetime
    timeline: list[TimelineEntry] = Field(description="What happened so far, oldest first")


class ErasureAnswer(BaseModel):
    request_id: UUID
    erased_at: datetime = Field(
        description="When the erasure was first asked for; every service applies it in turn"
    )


class AnswerBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "our PCB team can start in March"}]}
    )
    reason: str = Field(default="", max_length=2000, description="Why (optional)")


class CompletionBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "outcome": "Two-day workshop; 30 customs officers trained on PCB inventories",
                    "deliverables": ["https://example.org/workshop-report.pdf"],
                }
            ]
        }
    )
    outcome: str = Field(
        min_length=1, max_length=bounds.MAX_OUTCOME, description="What was delivered"
    )
    deliverables: Deliverables = Field(
        default_factory=list, description="Links to reports, materials or data (http/https)"
    )
    reason: str = Field(default="", max_length=bounds.MAX_REASON, description="A note (optional)")


class WithdrawalBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "our PCB expert has left"}]}
    )
    reason: str = Field(
        min_length=1, max_length=bounds.MAX_REASON, description="Why (the Party is told)"
    )


class FeedbackBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"rating": 5, "comment": "Timely and practical help"}]}
    )
    rating: Rating = Field(description="How the help was, 1 (poor) to 5 (excellent)")
    comment: str = Field(default="", max_length=bounds.MAX_COMMENT, description="Feedback")


class CloseBody(BaseModel):
    comment: str = Field(
        default="", max_length=bounds.MAX_COMMENT, description="Why the operator closes it"
    )


class ClosingView(BaseModel):
    request_id: UUID
    status: str = Field(description="closing: the request is on its way to being closed")


class AnswerView(BaseModel):
    assignment_id: UUID
    decision: Decision
    status: str = Field(description="recorded: the answer is on its way to the matcher")


class OfferView(BaseModel):
    assignment_id: UUID
    request_id: UUID
    role: str = Field(description="lead or support")
    score: float
    respond_by: datetime
    status: str = Field(
        description="offered, accepted, declined, expired, started, completed or withdrawn "
        "(matcher's view)"
    )
    answer: str | None = Field(description="The partner's answer to the offer: accept or decline")
    offered_at: datetime


class PartnerOffers(BaseModel):
    partner_id: str
    open: list[OfferView] = Field(description="Offers still waiting for this partner's answer")
    past: list[OfferView] = Field(description="Offers answered, accepted, declined or expired")


class ReportWindow(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime | None = Field(
        alias="from", description="Requests accepted from then on (inclusive); null: no bound"
    )
    to: datetime | None = Field(description="…and before then (exclusive); null: no bound")


class RequestCounts(BaseModel):
    total: int = Field(description="Requests accepted in the window")
    by_region: dict[str, int] = Field(description="UN regional group → requests")
    by_party: dict[str, int] = Field(description="Requesting Party → requests")
    by_topic: dict[str, int] = Field(description="Topic → requests asking for it")
    by_status: dict[str, int] = Field(description="Every status → requests in it now (0 too)")


class MedianSeconds(BaseModel):
    to_first_offer: float | None = Field(description="From acceptance to the first offer")
    to_match: float | None = Field(description="From acceptance to the (first) match")
    to_completion: float | None = Field(description="From acceptance to completion")


class PartnerFiguresView(BaseModel):
    partner_id: str
    accepted: int = Field(description="Assignments it accepted (then started, completed, …)")
    completed: int = Field(description="Assignments it completed")
    completion_rate: float = Field(description="completed / accepted")
    rated_requests: int = Field(description="Closed requests with a rating it completed work on")
    mean_rating: float | None = Field(description="Their mean rating, 1 to 5; null: none")


class AssistanceReportView(BaseModel):
    window: ReportWindow
    requests: RequestCounts
    median_seconds: MedianSeconds = Field(description="Medians; null when no request got there")
    partners: list[PartnerFiguresView] = Field(description="Every partner that accepted work")
    uncovered_topics: dict[str, int] = Field(
        description="Topic → requests whose latest match outcome left it uncovered"
    )


class DeadLetterRefusal(BaseModel):
    code: str = Field(
        description="already_replayed, never_published (a quarantined outbox row), "
        "invalid_origin (its x-dlq-* headers do not name a record of a topic STAX consumes), "
        "value_dropped (too large to keep), altered (key or headers not kept as they were), "
        "gone (its topic or partition no longer exists) or not_permitted (Kafka ACLs)"
    )
    message: str = Field(description="Why, for the operator")


class DeadLetterReplayView(BaseModel):
    offset: int = Field(description="The dead letter's offset on ta.deadletter.v1")
    topic: str = Field(description="Where it was written back: the topic it came from")
    replayed_at: datetime
    replayed_by: str = Field(description="The key_id of the operator key that replayed it")


class DeadLetterView(BaseModel):
    offset: int = Field(description="Its offset on ta.deadletter.v1 (one partition)")
    timestamp: datetime = Field(description="When it was dead-lettered")
    reason: str | None = Field(description="x-dlq-reason, e.g. invalid_data, outbox_quarantined")
    error: str | None = Field(description="x-dlq-error: what went wrong")
    service: str | None = Field(description="x-dlq-service: who dead-lettered it")
    topic: str | None = Field(description="x-dlq-topic: the topic the record came from")
    partition: int | None = Field(description="x-dlq-partition (-1: never reached Kafka)")
    original_offset: int | None = Field(description="x-dlq-offset: its offset on that topic")
    key: str | None = Field(description="The key as text (bytes not UTF-8 shown as �)")
    headers: dict[str, str] = Field(
        description="The original record's headers, as text (a listing shows each value's "
        "start only)"
    )
    value_bytes: int = Field(description="Size of the value kept in the dead letter")
    value_preview: str = Field(description="Its first 2 KiB as text (bytes not UTF-8 as �)")
    replayable: bool = Field(description="Whether a replay would be accepted now")
    refusal: DeadLetterRefusal | None = Field(description="Why not, when it would not")
    replayed: DeadLetterReplayView | None = Field(description="Its replay, once replayed")


class DeadLetterPageView(BaseModel):
    dead_letters: list[DeadLetterView] = Field(description="Newest first")
    next_before: int | None = Field(
        description="Pass as `before` for the next, older page; null: this page reaches the "
        "oldest dead letter the topic still keeps"
    )
