"""intake's subscribers: event type → handler (shared.consuming does the rest: parse, inbox,
one unit of work per record, dead letters, retries)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ConfigDict

from services.intake.domain.model import Clock
from services.intake.domain.reference import Reference
from services.intake.handlers import erasure, submissions, tracking
from services.intake.unit_of_work import IntakeUnitOfWork, IntakeUnits
from shared import topics
from shared.consuming import (
    DeadLetterSink,
    Fetching,
    ReliableConsumer,
    Route,
    subscribe_reliably,
    subscribe_together,
)
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentStarted,
    AssignmentWithdrawn,
    NotificationDelivered,
    NotificationFailed,
    RequestClosed,
    RequestCompleted,
    RequestErased,
    RequestMatched,
    RequestSubmitted,
    RequestUnmatched,
    RequestWaiting,
)

GROUP = "stax-intake"

Routes = dict[str, Route[IntakeUnitOfWork]]


class AnySubmission(BaseModel):
    """Route model that accepts any JSON object: intake validates submissions itself, so that
    invalid data is answered with ta.request.rejected instead of being dead-lettered."""

    model_config = ConfigDict(extra="allow")


def submission_routes(reference: Reference, clock: Clock, *, tenant: bool) -> Routes:
    """ta.request.submitted from a trusted in-cluster producer, or on a tenant's own topic."""
    handler = submissions.on_tenant_submitted if tenant else submissions.on_submitted
    apply = partial(handler, reference=reference, clock=clock)
    return {RequestSubmitted.ce_type: Route(AnySubmission, apply)}


# Consumer name → (topic, routes) of the events that build the status timelines.
READ_MODEL: dict[str, tuple[str, Routes]] = {
    "intake.requests": (
        topics.REQUESTS,
        {
            # ta.request.accepted is not routed (so skipped without a database round trip): only
            # intake emits it, and writes that timeline entry in the accepting transaction. Nor
            # is ta.request.closing, intake's own command to the matcher: its answer,
            # ta.request.closed, is what moves the request.
            RequestMatched.ce_type: Route(RequestMatched, tracking.on_match_outcome),
            RequestUnmatched.ce_type: Route(RequestUnmatched, tracking.on_match_outcome),
            RequestWaiting.ce_type: Route(RequestWaiting, tracking.on_waiting),
            RequestCompleted.ce_type: Route(RequestCompleted, tracking.on_completed),
            RequestClosed.ce_type: Route(RequestClosed, tracking.on_closed),
            RequestErased.ce_type: Route(RequestErased, erasure.on_erased),
        },
    ),
    "intake.assignments": (
        topics.ASSIGNMENTS,
        {
            AssignmentOffered.ce_type: Route(AssignmentOffered, tracking.on_offered),
            AssignmentAccepted.ce_type: Route(AssignmentAccepted, tracking.on_assignment_outcome),
            AssignmentDeclined.ce_type: Route(AssignmentDeclined, tracking.on_assignment_outcome),
            AssignmentExpired.ce_type: Route(AssignmentExpired, tracking.on_assignment_outcome),
            AssignmentStarted.ce_type: Route(AssignmentStarted, tracking.on_assignment_outcome),
            AssignmentCompleted.ce_type: Route(AssignmentCompleted, tracking.on_assignment_outcome),
            AssignmentWithdrawn.ce_type: Route(AssignmentWithdrawn, tracking.on_assignment_outcome),
        },
    ),
    "intake.notifications": (
        topics.NOTIFICATIONS,
        {
            NotificationDelivered.ce_type: Route(NotificationDelivered, tracking.on_notification),
            NotificationFailed.ce_type: Route(NotificationFailed, tracking.on_notification),
        },
    ),
}


def subscribe(
    broker: KafkaBroker,
    units: IntakeUnits,
    dead_letters: DeadLetterSink,
    *,
    reference: Reference,
    clock: Clock,
    fetching: Fetching,
    timeline_fetching: Fetching,
) -> None:
    """`fetching` for the submissions, `timeline_fetching` for the read model's events."""

    def consumer(
        name: str, routes: Routes, *, poison: bool = False, tenant_pattern: str | None = None
    ) -> ReliableConsumer[IntakeUnitOfWork]:
        return ReliableConsumer(
            name=name,
            unit_of_work=units,
            routes=routes,
            dead_letters=dead_letters,
            unknown_types_are_poison=poison,
            tenant_pattern=tenant_pattern,
        )

    subscribe_reliably(
        broker,
        # Only submissions belong on this topic: any other type is dead-lettered, not skipped.
        consumer(
            "intake.submissions",
            submission_routes(reference, clock, tenant=False),
            poison=True,
        ),
        topics.REQUESTS_SUBMITTED,
        group_id=GROUP,
        description="Requests from trusted in-cluster producers: validated, accepted or rejected",
        fetching=fetching,
    )
    subscribe_reliably(
        broker,
        consumer(
            "intake.tenant-submissions",
            submission_routes(reference, clock, tenant=True),
            poison=True,
            tenant_pattern=topics.SUBMITTER_REQUESTS_PATTERN,
        ),
        pattern=topics.SUBMITTER_REQUESTS_PATTERN,
        group_id=GROUP,
        description="Requests upstream systems publish on ta.submitter.<name>.requests.v1",
        fetching=fetching,
    )
    subscribe_together(
        broker,
        {topic: consumer(name, routes) for name, (topic, routes) in READ_MODEL.items()},
        group_id=GROUP,
        description="Events that build intake's status timelines",
        fetching=timeline_fetching,
    )
