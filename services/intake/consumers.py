"""intake's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.intake import erasure, handlers, tracking
from shared import topics
from shared.consuming import (
    ApplyOnConnection,
    ReliableConsumer,
    Route,
    on_connection,
    subscribe_reliably,
)
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    Event,
    NotificationDelivered,
    NotificationFailed,
    RequestErased,
    RequestMatched,
    RequestSubmitted,
    RequestUnmatched,
)
from shared.kafka import DeadLetters
from shared.outbox import Outbox
from shared.runtime import Runtime
from shared.uow import PgUnitOfWork

GROUP = "stax-intake"


def consumer(
    runtime: Runtime,
    broker: KafkaBroker,
    name: str,
    routes: dict[str, Route[PgUnitOfWork]],
    *,
    unknown_types_are_poison: bool = False,
    tenant_pattern: str | None = None,
) -> ReliableConsumer[PgUnitOfWork]:
    return ReliableConsumer(
        name=name,
        unit_of_work=lambda: PgUnitOfWork(runtime.pool, "intake"),
        dead_letters=DeadLetters(broker, "intake"),
        routes=routes,
        unknown_types_are_poison=unknown_types_are_poison,
        tenant_pattern=tenant_pattern,
    )


def submissions(apply: ApplyOnConnection) -> dict[str, Route[PgUnitOfWork]]:
    # A permissive model: invalid data is answered with ta.request.rejected, not dead-lettered.
    return {RequestSubmitted.ce_type: Route(handlers.AnySubmission, on_connection(apply))}


def read_model(outbox: Outbox) -> dict[str, tuple[str, dict[str, Route[PgUnitOfWork]]]]:
    """Consumer name → (topic, routes) of the events that build the status timelines."""

    def copied(model: type[Event], apply: ApplyOnConnection) -> Route[PgUnitOfWork]:
        return Route(model, on_connection(tracking.copied_to_submitter(apply, outbox)))

    return {
        "intake.requests": (
            topics.REQUESTS,
            {
                # ta.request.accepted is not routed (so skipped without a database round trip):
                # only intake emits it, and writes that timeline entry in the accepting
                # transaction.
                RequestMatched.ce_type: copied(RequestMatched, tracking.on_match_outcome),
                RequestUnmatched.ce_type: copied(RequestUnmatched, tracking.on_match_outcome),
                # Not copied to the submitter's topic: it says nothing the submitter needs.
                RequestErased.ce_type: Route(
                    RequestErased, on_connection(partial(erasure.on_erased, outbox))
                ),
            },
        ),
        "intake.assignments": (
            topics.ASSIGNMENTS,
            {
                AssignmentOffered.ce_type: copied(AssignmentOffered, tracking.on_offered),
                AssignmentAccepted.ce_type: copied(
                    AssignmentAccepted, tracking.on_assignment_outcome
                ),
                AssignmentDeclined.ce_type: copied(
                    AssignmentDeclined, tracking.on_assignment_outcome
                ),
                AssignmentExpired.ce_type: copied(
                    AssignmentExpired, tracking.on_assignment_outcome
                ),
            },
        ),
        "intake.notifications": NOTIFICATIONS,
    }


NOTIFICATIONS: tuple[str, dict[str, Route[PgUnitOfWork]]] = (
    topics.NOTIFICATIONS,
    {
        NotificationDelivered.ce_type: Route(
            NotificationDelivered, on_connection(tracking.on_notification)
        ),
        NotificationFailed.ce_type: Route(
            NotificationFailed, on_connection(tracking.on_notification)
        ),
    },
)


def subscribe(broker: KafkaBroker, runtime: Runtime, deps: handlers.IntakeDeps) -> None:
    subscribe_reliably(
        broker,
        # Only submissions belong on this topic: any other type is dead-lettered, not skipped.
        consumer(
            runtime,
            broker,
            "intake.submissions",
            submissions(partial(handlers.on_submitted, deps)),
            unknown_types_are_poison=True,
        ),
        topics.REQUESTS_SUBMITTED,
        group_id=GROUP,
        description="Requests from trusted in-cluster producers: validated, accepted or rejected",
    )
    subscribe_reliably(
        broker,
        consumer(
            runtime,
            broker,
            "intake.tenant-submissions",
            submissions(partial(handlers.on_tenant_submitted, deps)),
            unknown_types_are_poison=True,
            tenant_pattern=topics.SUBMITTER_REQUESTS_PATTERN,
        ),
        pattern=topics.SUBMITTER_REQUESTS_PATTERN,
        group_id=GROUP,
        description="Requests upstream systems publish on ta.submitter.<name>.requests.v1",
    )
    for name, (topic, routes) in read_model(deps.outbox).items():
        subscribe_reliably(
            broker,
            consumer(runtime, broker, name, routes),
            topic,
            group_id=GROUP,
            description="Events that build intake's status timelines",
        )
