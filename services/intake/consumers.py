"""intake's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.intake import handlers, tracking
from shared import topics
from shared.consuming import ReliableConsumer, Route, subscribe_reliably
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    NotificationDelivered,
    NotificationFailed,
    RequestMatched,
    RequestSubmitted,
    RequestUnmatched,
)
from shared.inbox import Inbox
from shared.kafka import DeadLetters
from shared.runtime import Runtime

GROUP = "stax-intake"


def consumer(
    runtime: Runtime,
    broker: KafkaBroker,
    name: str,
    routes: dict[str, Route],
    *,
    unknown_types_are_poison: bool = False,
) -> ReliableConsumer:
    return ReliableConsumer(
        name=name,
        pool=runtime.pool,
        inbox=Inbox("intake"),
        dead_letters=DeadLetters(broker, "intake"),
        routes=routes,
        unknown_types_are_poison=unknown_types_are_poison,
    )


def submissions(deps: handlers.IntakeDeps) -> dict[str, Route]:
    # A permissive model: invalid data is answered with ta.request.rejected, not dead-lettered.
    apply = partial(handlers.on_submitted, deps)
    return {RequestSubmitted.ce_type: Route(handlers.AnySubmission, apply)}


READ_MODEL: dict[str, tuple[str, dict[str, Route]]] = {
    "intake.requests": (
        topics.REQUESTS,
        {
            # ta.request.accepted is not routed (so skipped without a database round trip):
            # only intake emits it, and it writes that timeline entry in the accepting transaction.
            RequestMatched.ce_type: Route(RequestMatched, tracking.on_match_outcome),
            RequestUnmatched.ce_type: Route(RequestUnmatched, tracking.on_match_outcome),
        },
    ),
    "intake.assignments": (
        topics.ASSIGNMENTS,
        {
            AssignmentOffered.ce_type: Route(AssignmentOffered, tracking.on_offered),
            AssignmentAccepted.ce_type: Route(AssignmentAccepted, tracking.on_assignment_outcome),
            AssignmentDeclined.ce_type: Route(AssignmentDeclined, tracking.on_assignment_outcome),
            AssignmentExpired.ce_type: Route(AssignmentExpired, tracking.on_assignment_outcome),
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


def subscribe(broker: KafkaBroker, runtime: Runtime, deps: handlers.IntakeDeps) -> None:
    subscribe_reliably(
        broker,
        # Only submissions belong on this topic: any other type is dead-lettered, not skipped.
        consumer(
            runtime,
            broker,
            "intake.submissions",
            submissions(deps),
            unknown_types_are_poison=True,
        ),
        topics.REQUESTS_SUBMITTED,
        group_id=GROUP,
        description="Requests submitted over Kafka: validated, accepted or rejected",
    )
    for name, (topic, routes) in READ_MODEL.items():
        subscribe_reliably(
            broker,
            consumer(runtime, broker, name, routes),
            topic,
            group_id=GROUP,
            description="Events that build intake's status timelines",
        )
