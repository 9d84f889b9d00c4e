"""notifier's subscribers: decode → one handler → done (shared.consuming does the rest)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifier import handlers
from shared import topics
from shared.consuming import ReliableConsumer, Route, subscribe_reliably
from shared.events import AssignmentOffered
from shared.inbox import Inbox
from shared.kafka import DeadLetters
from shared.runtime import Runtime

GROUP = "stax-notifier"


def subscribe(broker: KafkaBroker, runtime: Runtime) -> None:
    assignments = ReliableConsumer(
        name="notifier.assignments",
        pool=runtime.pool,
        inbox=Inbox("notifier"),
        dead_letters=DeadLetters(broker, "notifier"),
        routes={
            AssignmentOffered.ce_type: Route(AssignmentOffered, handlers.on_assignment_offered)
        },
    )
    subscribe_reliably(
        broker,
        assignments,
        topics.ASSIGNMENTS,
        group_id=GROUP,
        description="Offers to tell partners about",
    )
