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
    status: str = Field(description="offered, accepted, declined or expired (matcher's view)")
    answer: str | None = Field(description="The partner's answer, once given: accept or decline")
    offered_at: datetime


class PartnerOffers(BaseModel):
    partner_id: str
    open: list[OfferView] = Field(description="Offers still waiting for this partner's answer")
    past: list[OfferView] = Field(description="Offers answered, accepted, declined or expired")
