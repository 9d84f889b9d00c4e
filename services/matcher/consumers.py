"""matcher's subscribers: event type → one handler (shared.consuming does the rest)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from faststream.kafka import KafkaBroker

from services.matcher.domain import MatchPolicy
from services.matcher.handlers import answers, requests
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Clock
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits
from shared import topics
from shared.consuming import (
    DeadLetterSink,
    ReliableConsumer,
    Route,
    subscribe_reliably,
    subscribe_together,
)
from shared.events import AssignmentResponse, RequestAccepted, RequestErased

GROUP = "stax-matcher"


def subscribe(
    broker: KafkaBroker,
    units: MatcherUnits,
    dead_letters: DeadLetterSink,
    *,
    catalog: Catalog,
    policy: MatchPolicy,
    clock: Clock,
    respond_within: timedelta,
) -> None:
    on_accepted = partial(
        requests.on_request_accepted,
        catalog=catalog,
        policy=policy,
        clock=clock,
        respond_within=respond_within,
    )
    on_response = partial(
        answers.on_assignment_response,
        catalog=catalog,
        clock=clock,
        respond_within=respond_within,
    )
    on_partner_answer = partial(
        answers.on_partner_answer, catalog=catalog, clock=clock, respond_within=respond_within
    )

    requests_consumer: ReliableConsumer[MatcherUnitOfWork] = ReliableConsumer(
        name="matcher.requests",
        unit_of_work=units,
        dead_letters=dead_letters,
        routes={
            RequestAccepted.ce_type: Route(RequestAccepted, on_accepted),
            RequestErased.ce_type: Route(RequestErased, requests.on_request_erased),
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
            "Accepted requests to match, and partners' answers to offers relayed by intake "
            "from its HTTP API"
        ),
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
    )
