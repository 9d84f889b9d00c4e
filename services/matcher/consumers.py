"""matcher's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.matcher import handlers
from shared import topics
from shared.consuming import ReliableConsumer, Route, subscribe_reliably
from shared.events import RequestAccepted
from shared.inbox import Inbox
from shared.kafka import DeadLetters
from shared.runtime import Runtime

GROUP = "stax-matcher"


def subscribe(broker: KafkaBroker, runtime: Runtime, deps: handlers.MatcherDeps) -> None:
    requests = ReliableConsumer(
        name="matcher.requests",
        pool=runtime.pool,
        inbox=Inbox("matcher"),
        dead_letters=DeadLetters(broker, "matcher"),
        routes={
            RequestAccepted.ce_type: Route(
                RequestAccepted, partial(handlers.on_request_accepted, deps)
            )
        },
    )
    subscribe_reliably(
        broker, requests, topics.REQUESTS, group_id=GROUP, description="Accepted requests to match"
    )
