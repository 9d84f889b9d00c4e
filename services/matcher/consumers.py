"""matcher's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from faststream.kafka import KafkaBroker

from services.matcher import handlers
from shared import topics
from shared.consuming import ReliableConsumer, Route, on_connection, subscribe_reliably
from shared.events import AssignmentResponse, Event, RequestAccepted, RequestErased
from shared.kafka import DeadLetters
from shared.runtime import Runtime
from shared.uow import PgUnitOfWork

GROUP = "stax-matcher"

# A use case of handlers.py, before its dependencies are bound.
Use = Callable[..., Awaitable[None]]


def subscribe(broker: KafkaBroker, runtime: Runtime, deps: handlers.MatcherDeps) -> None:
    dead_letters = DeadLetters(broker, "matcher")

    def consumer(
        name: str, uses: dict[type[Event], Use], **options: Any
    ) -> ReliableConsumer[PgUnitOfWork]:
        return ReliableConsumer(
            name=name,
            unit_of_work=lambda: PgUnitOfWork(runtime.pool, "matcher"),
            dead_letters=dead_letters,
            routes={
                m.ce_type: Route(m, on_connection(partial(apply, deps)))
                for m, apply in uses.items()
            },
            **options,
        )

    requests: dict[type[Event], Use] = {
        RequestAccepted: handlers.on_request_accepted,
        RequestErased: handlers.on_request_erased,
    }
    subscribe_reliably(
        broker,
        consumer("matcher.requests", requests),
        topics.REQUESTS,
        group_id=GROUP,
        description="Accepted requests to match",
    )
    subscribe_reliably(
        broker,
        consumer("matcher.responses", {AssignmentResponse: handlers.on_assignment_response}),
        topics.ASSIGNMENT_RESPONSES,
        group_id=GROUP,
        description="Partners' answers to offers, relayed by intake from its HTTP API",
    )
    subscribe_reliably(
        broker,
        consumer(
            "matcher.partner-answers",
            {AssignmentResponse: handlers.on_partner_answer},
            unknown_types_are_poison=True,
            tenant_pattern=topics.PARTNER_RESPONSES_PATTERN,
        ),
        pattern=topics.PARTNER_RESPONSES_PATTERN,
        group_id=GROUP,
        description="Answers partners publish on their own topics, ta.partner.<id>.responses.v1",
    )
