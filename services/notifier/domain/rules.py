"""Pure rules of notifier: who hears what, the webhook body, the retry schedule, how answers
are classified, which secrets sign, which e-mail template renders. No I/O here.

The typed records the repositories return are in `models.py`; the SSRF address rules sit with
the guard that applies them (`adapters/ssrf_rules.py`).
"""

from __future__ import annotations

import base64
import json
import random
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    Event,
    NotificationFailed,
    RequestAccepted,
    RequestMatched,
    RequestUnmatched,
)

# The partner id under which the Secretariat registers its endpoints and contacts.
SECRETARIAT = "secretariat"

# Internal notice types (never on Kafka): what an e-mail or webhook is about when it is not a
# Kafka event. A partner may filter on them like on any event type.
ENDPOINT_DISABLED = "ta.notifier.endpoint_disabled"

# The Kafka events notifier tells partners and Parties about; named only in shared.events.
TOLD_EVENTS: tuple[type[Event], ...] = (
    RequestAccepted,
    RequestMatched,
    RequestUnmatched,
    AssignmentOffered,
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    NotificationFailed,
)

# What a subscription may filter on.
EVENT_TYPES: frozenset[str] = frozenset({e.ce_type for e in TOLD_EVENTS} | {ENDPOINT_DISABLED})

# Languages a contact may choose; templates exist for en, fr and es, the rest fall back to en.
LANGUAGES: frozenset[str] = frozenset({"en", "fr", "es", "ar", "ru", "zh"})


def wants(event_types: Sequence[str], event_type: str) -> bool:
    """An empty filter means every event type."""
    return not event_types or event_type in event_types


# ------------------------------------------------------------------------------ who hears what


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
    """Who is told about an event (product brief §5 and issue 5, "who hears what")."""
    request = Requester(UUID(str(data["request_id"]))) if "request_id" in data else None
    partner = Partner(str(data["partner_id"])) if "partner_id" in data else None
    rules: dict[str, list[Audience | None]] = {
        AssignmentOffered.ce_type: [partner],
        # The Party hears each acceptance; the partner hears the outcome of its own offers.
        AssignmentAccepted.ce_type: [request, partner],
        AssignmentDeclined.ce_type: [partner],
        AssignmentExpired.ce_type: [partner],
        RequestAccepted.ce_type: [request],
        RequestMatched.ce_type: [request],
        RequestUnmatched.ce_type: [request, Partner(SECRETARIAT)],
    }
    return [who for who in rules.get(event_type, []) if who is not None]


def pick_language(languages: Sequence[str]) -> str:
    """The first of the request's languages a contact may have, else English."""
    return next((lang for lang in languages if lang in LANGUAGES), "en")


# ------------------------------------------------------------------------------ quotas


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


# ------------------------------------------------------------------------------ webhooks


def minimised(data: dict[str, Any]) -> dict[str, Any]:
    """Event data as notifier keeps it: of the Party's contact, only the name its e-mail
    greets (templates `ta.request.accepted.*`); the address is on the contact row, and the
    organisation is used by nobody here (issue 9, finding 8)."""
    contact = data.get("contact")
    if not isinstance(contact, dict):
        return data
    return {**data, "contact": {"name": contact.get("name", "")}}


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """Standard Webhooks body: `{type, timestamp, data}`, serialised once and stored as sent."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
    )


# Standard Webhooks: a symmetric secret is `whsec_` + base64 of 24 to 64 random bytes.
KEY_PREFIX = "whsec_"
KEY_BYTES = range(24, 65)


def secret_problem(secret: str) -> str | None:
    """What is wrong with a partner-chosen signing secret, or None. Checked where it is set: a
    secret the signer cannot decode failed every attempt, and one decoding (leniently) to a
    few bytes signed with a key anyone could guess."""
    if not secret.startswith(KEY_PREFIX):
        return f"must start with {KEY_PREFIX}"
    try:
        key = base64.b64decode(secret.removeprefix(KEY_PREFIX), validate=True)
    except ValueError:  # binascii.Error: bad padding, characters after the padding
        return f"is not valid base64 after {KEY_PREFIX}"
    if len(key) not in KEY_BYTES:
        return (
            f"decodes to {len(key)} bytes; it must be {KEY_BYTES.start} to "
            f"{KEY_BYTES.stop - 1} random bytes"
        )
    return None


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The new secret, plus the old one while the rotation's overlap window lasts."""
    if previous and previous_until is not None and now < previous_until:
        return [secret, previous]
    return [secret]


# ------------------------------------------------------------------------------ attempts


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    overloaded: bool = False  # timeout or 429: wait at least the overload penalty
    permanent: bool = False  # no retry (SMTP 5xx, HTTP 410)
    disable_endpoint: bool = False  # HTTP 410 Gone
    target_gone: bool = False  # not attempted: the endpoint is disabled or the contact removed


@dataclass(frozen=True)
class RetryPolicy:
    schedule: Sequence[float]
    jitter: float = 0.2
    overload_penalty: float = 60.0
    max_retry_after: float = 86_400.0


def next_attempt(
    schedule: Sequence[float] | RetryPolicy,
    attempts_made: int,
    now: datetime,
    result: AttemptResult,
    jitter: float = 0.2,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is spent.

    ±20 % jitter spreads retries of many deliveries; Retry-After may lengthen, never shorten
    (capped, so a receiver cannot park a delivery for ever); a timeout or a 429 waits at least
    the overload penalty, so a struggling receiver is not hammered.
    """
    policy = schedule if isinstance(schedule, RetryPolicy) else RetryPolicy(schedule, jitter, 0.0)
    if result.permanent or attempts_made >= len(policy.schedule):
        return None
    delay = policy.schedule[attempts_made] * random.uniform(1 - policy.jitter, 1 + policy.jitter)  # noqa: S311
    if result.overloaded:
        delay = max(delay, policy.overload_penalty)
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, policy.max_retry_after))
    return now + timedelta(seconds=delay)


def outcome_status(result: AttemptResult, retry_at: datetime | None) -> str:
    if result.ok:
        return "delivered"
    return "pending" if retry_at is not None else "failed"


def failing_too_long(
    failing_since: datetime | None, now: datetime, disable_after_days: float
) -> bool:
    """An endpoint whose every attempt failed for N days is disabled (Standard Webhooks)."""
    return failing_since is not None and now - failing_since >= timedelta(days=disable_after_days)


def classify_http(status: int, retry_after: float | None) -> AttemptResult:
    """2xx success; 3xx failure (redirects are never followed); 410 disables the endpoint."""
    if 200 <= status < 300:
        return AttemptResult(ok=True)
    gone = status == 410
    return AttemptResult(
        ok=False,
        error=f"HTTP {status}",
        retry_after=retry_after,
        overloaded=status == 429,
        permanent=gone,
        disable_endpoint=gone,
    )


def retry_after_seconds(value: str, now: datetime) -> float | None:
    """Retry-After (RFC 9110): ASCII digits (seconds) or an HTTP date; anything else is
    ignored. Not str.isdigit(): it accepts "²" and "١٢", which float() then reads or rejects."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)  # a huge value becomes inf: RetryPolicy.max_retry_after caps it
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC with no claim about the sender's zone (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def classify_smtp(code: int, message: str) -> AttemptResult:
    """4xx is temporary (retried on the schedule), 5xx a permanent failure (hard bounce)."""
    return AttemptResult(ok=False, error=f"SMTP {code} {message}"[:500], permanent=code >= 500)


# ------------------------------------------------------------------------------ e-mail


def template_base(event_type: str, language: str, available: frozenset[str]) -> str:
    """Which `<name>.<lang>` template pair renders this e-mail: the event type's own in the
    contact's language, else in English, else the generic one (same fallback order)."""
    for name in (event_type, "_default"):
        for lang in (language, "en"):
            if f"{name}.{lang}.txt.j2" in available and f"{name}.{lang}.html.j2" in available:
                return f"{name}.{lang}"
    raise LookupError(f"no template for {event_type} (not even _default.en)")


def split_text_template(source: str) -> tuple[str, str]:
    """A text template's first line is the subject, the rest (after a blank line) the body.

    The source is split, not the rendered text: a line break in the data (a title) must not
    move text from the subject into the body or the other way round."""
    subject, _, body = source.strip().partition("\n")
    return subject.strip(), body.lstrip("\n")


# ------------------------------------------------------------------------------ mail headers

# Longest text in a header we write: a subject stays readable, and no line nears RFC 5322's 998.
MAX_HEADER_TEXT = 200

# Never in a header: control characters (CR, LF, NUL, NEL, ESC…), the Unicode line and paragraph
# separators (str.splitlines() and some mail readers break lines on them) and lone surrogates
# (they cannot be encoded, so writing the message would fail).
_UNSAFE = frozenset({"Cc", "Zl", "Zp", "Cs"})


def _unsafe_char(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE


def header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """`value` as one harmless header line: unsafe characters become spaces, runs of spaces one,
    encoded-word syntax is broken, and the length bounded (cut with an ellipsis)."""
    line = " ".join("".join(" " if _unsafe_char(ch) else ch for ch in value).split())
    # `=?` opens an RFC 2047 encoded word, which the email package decodes when the header is
    # set, after any check on the text: `=?utf-8?q?Hi=0D=0AReply-To:…?=` becomes a second
    # header on Python 3.11.7 (CVE-2024-6923). A space keeps the text readable and undecodable;
    # after the clean-up above, no replaced character can rebuild a `=?`.
    line = line.replace("=?", "= ?")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def unsafe_address(address: str) -> str | None:
    """Why `address` may not be a recipient, or None. An address cannot be cleaned like text
    (that would be another mailbox), so one that could smuggle a header is refused."""
    if any(_unsafe_char(ch) or ch.isspace() for ch in address):
        return "it contains control or space characters"
    if "=?" in address:
        # email-validator accepts `=?…?=@example.org`, and the email package would decode it.
        return "it contains an RFC 2047 encoded word (=?), which mail software would decode"
    return None
