"""notifier's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from functools import partial

from faststream.kafka import KafkaBroker

from services.notifier.handlers import Fanout, on_request_erased
from shared import topics
from shared.consuming import ReliableConsumer, Route, on_connection, subscribe_reliably
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    Event,
    RequestAccepted,
    RequestErased,
    RequestMatched,
    RequestUnmatched,
)
from shared.kafka import DeadLetters
from shared.runtime import Runtime
from shared.uow import PgUnitOfWork

GROUP = "stax-notifier"

TOPICS: dict[str, tuple[str, list[type[Event]], str]] = {
    # consumer name: (topic, event models, what it is for)
    "notifier.requests": (
        topics.REQUESTS,
        [RequestAccepted, RequestMatched, RequestUnmatched],
        "Requests the requesting Party and the Secretariat hear about",
    ),
    "notifier.assignments": (
        topics.ASSIGNMENTS,
        [AssignmentOffered, AssignmentAccepted, AssignmentDeclined, AssignmentExpired],
        "Offers and their outcomes to tell partners and Parties about",
    ),
}


def subscribe(broker: KafkaBroker, runtime: Runtime) -> None:
    fanout = Fanout(runtime.outbox)
    # On the topic of the request it erases, so it is applied after that request's acceptance.
    erasure = {
        RequestErased.ce_type: Route(
            RequestErased, on_connection(partial(on_request_erased, runtime.outbox))
        )
    }
    for name, (topic, models, description) in TOPICS.items():
        routes = {m.ce_type: Route(m, on_connection(fanout)) for m in models}
        consumer = ReliableConsumer(
            name=name,  # distinct per topic: the inbox is keyed by (consumer, ce_id)
            unit_of_work=lambda: PgUnitOfWork(runtime.pool, "notifier"),
            dead_letters=DeadLetters(broker, "notifier"),
            routes=routes | erasure if topic == topics.REQUESTS else routes,
        )
        subscribe_reliably(broker, consumer, topic, group_id=GROUP, description=description)
