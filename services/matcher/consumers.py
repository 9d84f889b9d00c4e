"""matcher's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.matcher import handlers
from shared import topics
from shared.consuming import ReliableConsumer, Route, subscribe_reliably
from shared.events import AssignmentResponse, RequestAccepted
from shared.inbox import Inbox
from shared.kafka import DeadLetters
from shared.runtime import Runtime

GROUP = "stax-matcher"


def subscribe(broker: KafkaBroker, runtime: Runtime, deps: handlers.MatcherDeps) -> None:
    dead_letters = DeadLetters(broker, "matcher")
    requests = ReliableConsumer(
        name="matcher.requests",
        pool=runtime.pool,
        inbox=Inbox("matcher"),
        dead_letters=dead_letters,
        routes={
            RequestAccepted.ce_type: Route(
                RequestAccepted, partial(handlers.on_request_accepted, deps)
            )
        },
    )
    subscribe_reliably(
        broker, requests, topics.REQUESTS, group_id=GROUP, description="Accepted requests to match"
    )
    responses = ReliableConsumer(
        name="matcher.responses",
        pool=runtime.pool,
        inbox=Inbox("matcher"),
        dead_letters=dead_letters,
        routes={
            AssignmentResponse.ce_type: Route(
                AssignmentResponse, partial(handlers.on_assignment_response, deps)
            )
        },
    )
    subscribe_reliably(
        broker,
        responses,
        topics.ASSIGNMENT_RESPONSES,
        group_id=GROUP,
        description="Partners' answers to offers, relayed by intake from its HTTP API",
    )
    tenant_answers = ReliableConsumer(
        name="matcher.partner-answers",
        pool=runtime.pool,
        inbox=Inbox("matcher"),
        dead_letters=dead_letters,
        routes={
            AssignmentResponse.ce_type: Route(
                AssignmentResponse, partial(handlers.on_partner_answer, deps)
            )
        },
        unknown_types_are_poison=True,
        tenant_pattern=topics.PARTNER_RESPONSES_PATTERN,
    )
    subscribe_reliably(
        broker,
        tenant_answers,
        pattern=topics.PARTNER_RESPONSES_PATTERN,
        group_id=GROUP,
        description="Answers partners publish on their own topics, ta.partner.<id>.responses.v1",
    )
