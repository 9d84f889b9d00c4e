"""Subscriptions and who hears what: the event types a subscription may filter on, the audience of
each event, the languages a contact may choose and the quotas of a partner's subscriptions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentStarted,
    AssignmentWithdrawn,
    Event,
    NotificationFailed,
    RequestAccepted,
    RequestClosed,
    RequestCompleted,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
)

# The partner id under which the Secretariat registers its endpoints and contacts.
SECRETARIAT = "secretariat"

# Internal notice types (never on Kafka): what an e-mail or webhook is about when it is not a
# Kafka event. A partner may filter on them like on any event type.
ENDPOINT_DISABLED = "ta.notifier.endpoint_disabled"

# The Kafka events notifier tells partners and Parties about; named only in shared.events.
# ta.request.closing is not one: it is intake's command to matcher, not a fact anyone is told
# (matcher answers it with ta.request.closed, which is).
TOLD_EVENTS: tuple[type[Event], ...] = (
    RequestAccepted,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
    RequestCompleted,
    RequestClosed,
    AssignmentOffered,
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentStarted,
    AssignmentCompleted,
    AssignmentWithdrawn,
    NotificationFailed,
)

# What a subscription may filter on.
EVENT_TYPES: frozenset[str] = frozenset({e.ce_type for e in TOLD_EVENTS} | {ENDPOINT_DISABLED})

# Languages a contact may choose; templates exist for en, fr and es, the rest fall back to en.
LANGUAGES: frozenset[str] = frozenset({"en", "fr", "es", "ar", "ru", "zh"})


def wants(event_types: Sequence[str], event_type: str) -> bool:
    """An empty filter means every event type."""
    return not event_types or event_type in event_types


@dataclass(frozen=True)
class Partner:
    """Every subscription (endpoints, contacts, Kafka channel) of one partner."""

    partner_id: str


@dataclass(frozen=True)
class Requester:
    """The requesting Party's contact, recorded from `ta.request.accepted`."""

    request_id: UUID


Audience = Partner | Requester


def audience(event_type: str, data: Mapping[str, Any]) -> list[Audience]:
    """Who is told about an event (product brief §5 and §7.2, issue 5 "who hears what")."""
    request = Requester(UUID(str(data["request_id"]))) if "request_id" in data else None
    partner = Partner(str(data["partner_id"])) if "partner_id" in data else None
    secretariat = Partner(SECRETARIAT)
    rules: dict[str, list[Audience | None]] = {
        AssignmentOffered.ce_type: [partner],
        # The Party hears each acceptance; the partner hears the outcome of its own offers.
        AssignmentAccepted.ce_type: [request, partner],
        AssignmentDeclined.ce_type: [partner],
        AssignmentExpired.ce_type: [partner],
        # The work itself (brief §7.2): the Party follows it, the partner gets the record of
        # its own answer. A withdrawal also reaches the Secretariat, which follows up on work
        # dropped after it was promised (the slot is re-offered, but late).
        AssignmentStarted.ce_type: [request, partner],
        AssignmentCompleted.ce_type: [request, partner],
        AssignmentWithdrawn.ce_type: [request, partner, secretariat],
        RequestAccepted.ce_type: [request],
        RequestMatched.ce_type: [request],
        RequestUnmatched.ce_type: [request, secretariat],
        # Waiting for capacity is a delay the Secretariat may ease (by asking a partner to
        # make room); the partners waited for are not told, there is nothing they must do.
        RequestWaiting.ce_type: [request, secretariat],
        # Completion asks the Party for its feedback. Closing carries that feedback (free text
        # from the submitter): it goes back to the Party and to the Secretariat, never to the
        # partners, who are not named in the event and would otherwise receive another's words.
        RequestCompleted.ce_type: [request],
        RequestClosed.ce_type: [request, secretariat],
    }
    return [who for who in rules.get(event_type, []) if who is not None]


def pick_language(languages: Sequence[str]) -> str:
    """The first of the request's languages a contact may have, else English."""
    return next((lang for lang in languages if lang in LANGUAGES), "en")


@dataclass(frozen=True)
class Quotas:
    """The most endpoints and contacts one partner may have, so that no partner's input can
    grow the fan-out of every event (and the work of every worker) without bound."""

    endpoints: int
    contacts: int


def over_quota(what: str, have: int, most: int) -> str | None:
    """Why one more `what` is refused to a partner that has `have` of them, or None."""
    if have < most:
        return None
    return f"this partner already has {have} {what}, the most allowed: delete one first"
