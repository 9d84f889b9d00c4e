"""notifier's subscribers: event type → handler; shared.consuming opens the unit and claims
the inbox, the handler runs inside."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.notifier.handlers.fanout import fan_out
from services.notifier.handlers.requesters import erase
from services.notifier.handlers.sign_in import send_links
from services.notifier.unit_of_work import NotifierUnitOfWork, NotifierUnits
from shared import topics
from shared.consuming import (
    DeadLetterSink,
    Fetching,
    ReliableConsumer,
    Route,
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
    Event,
    PortalSignInRequested,
    RequestAccepted,
    RequestClosed,
    RequestCompleted,
    RequestErased,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
)

GROUP = "stax-notifier"

# Types without a route are skipped without a trace (ReliableConsumer's default), which is what
# ta.request.closing needs: intake's command to matcher, on the same topic, that nobody is told.
TOPICS: dict[str, tuple[str, list[type[Event]], str]] = {
    # consumer name: (topic, event models, what it is for)
    "notifier.requests": (
        topics.REQUESTS,
        [
            RequestAccepted,
            RequestMatched,
            RequestUnmatched,
            RequestWaiting,
            RequestCompleted,
            RequestClosed,
        ],
        "Requests the requesting Party and the Secretariat hear about",
    ),
    "notifier.assignments": (
        topics.ASSIGNMENTS,
        [
            AssignmentOffered,
            AssignmentAccepted,
            AssignmentDeclined,
            AssignmentExpired,
            AssignmentStarted,
            AssignmentCompleted,
            AssignmentWithdrawn,
        ],
        "Offers, their outcomes and the work that follows, for partners and Parties",
    ),
}

# Not a fan-out: a sign-in request names no partner, only an address's digest (handlers/sign_in).
SIGN_IN = ("notifier.sign-in", topics.PORTAL_SIGN_IN, "Portal sign-in links, e-mailed to partners")


def reliable_consumers(
    units: NotifierUnits, dead_letters: DeadLetterSink
) -> dict[str, ReliableConsumer[NotifierUnitOfWork]]:
    """One consumer per topic, keyed by topic."""
    # On the topic of the request it erases, so it is applied after that request's acceptance.
    erasure: dict[str, Route[NotifierUnitOfWork]] = {
        RequestErased.ce_type: Route(RequestErased, erase)
    }
    consumers: dict[str, ReliableConsumer[NotifierUnitOfWork]] = {}
    for name, (topic, models, _) in TOPICS.items():
        routes: dict[str, Route[NotifierUnitOfWork]] = {
            m.ce_type: Route(m, fan_out) for m in models
        }
        consumers[topic] = ReliableConsumer(
            name=name,  # distinct per topic: the inbox is keyed by (consumer, ce_id)
            unit_of_work=units,
            dead_letters=dead_letters,
            routes=routes | erasure if topic == topics.REQUESTS else routes,
        )
    name, topic, _ = SIGN_IN
    consumers[topic] = ReliableConsumer(
        name=name,
        unit_of_work=units,
        dead_letters=dead_letters,
        routes={PortalSignInRequested.ce_type: Route(PortalSignInRequested, send_links)},
    )
    return consumers


def subscribe(
    broker: KafkaBroker, units: NotifierUnits, dead_letters: DeadLetterSink, *, fetching: Fetching
) -> None:
    description = "; ".join([*(what for _, _, what in TOPICS.values()), SIGN_IN[2]])
    consumers = reliable_consumers(units, dead_letters)
    subscribe_together(
        broker, consumers, group_id=GROUP, description=description, fetching=fetching
    )
