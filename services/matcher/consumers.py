"""matcher's subscribers: event type → one handler (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.matcher.handlers import answers, requests
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits
from shared import topics
from shared.consuming import (
    DeadLetterSink,
    Fetching,
    ReliableConsumer,
    Route,
    subscribe_reliably,
    subscribe_together,
)
from shared.events import AssignmentResponse, RequestAccepted, RequestClosing, RequestErased

GROUP = "stax-matcher"


def subscribe(
    broker: KafkaBroker,
    units: MatcherUnits,
    dead_letters: DeadLetterSink,
    *,
    matching: Matching,
    fetching: Fetching,
) -> None:
    on_accepted = partial(requests.on_request_accepted, matching=matching)
    on_response = partial(answers.on_assignment_response, matching=matching)
    on_partner_answer = partial(answers.on_partner_answer, matching=matching)

    requests_consumer: ReliableConsumer[MatcherUnitOfWork] = ReliableConsumer(
        name="matcher.requests",
        unit_of_work=units,
        dead_letters=dead_letters,
        routes={
            RequestAccepted.ce_type: Route(RequestAccepted, on_accepted),
            RequestErased.ce_type: Route(RequestErased, requests.on_request_erased),
            RequestClosing.ce_type: Route(RequestClosing, requests.on_request_closing),
        },
    )
    responses_consumer: ReliableConsumer[MatcherUnitOfWork] = ReliableConsumer(
        name="matcher.responses",
        unit_of_work=units,
        dead_letters=dead_letters,
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, on_response)},
    )
    subscribe_together(
        broker,
        {topics.REQUESTS: requests_consumer, topics.ASSIGNMENT_RESPONSES: responses_consumer},
        group_id=GROUP,
        description=(
            "Accepted requests to match and requests to close, and partners' answers relayed "
            "by intake from its HTTP API"
        ),
        fetching=fetching,
    )
    subscribe_reliably(
        broker,
        ReliableConsumer(
            name="matcher.partner-answers",
            unit_of_work=units,
            dead_letters=dead_letters,
            routes={AssignmentResponse.ce_type: Route(AssignmentResponse, on_partner_answer)},
            unknown_types_are_poison=True,
            tenant_pattern=topics.PARTNER_RESPONSES_PATTERN,
        ),
        pattern=topics.PARTNER_RESPONSES_PATTERN,
        group_id=GROUP,
        description="Answers partners publish on their own topics, ta.partner.<id>.responses.v1",
        fetching=fetching,
    )
