"""The Kafka topics of the public contract (product brief §3) and their default partition counts.

Services never create topics implicitly: `stax init` (which `stax-local stack up` runs), the
deploy manifests and the test fixtures create exactly these, so a typo in a topic name fails
loudly instead of making a topic.
"""

from __future__ import annotations

import re
from typing import Final

REQUESTS_SUBMITTED: Final = "ta.requests.submitted.v1"
REQUESTS: Final = "ta.requests.v1"
ASSIGNMENTS: Final = "ta.assignments.v1"
ASSIGNMENT_RESPONSES: Final = "ta.assignments.responses.v1"
NOTIFICATIONS: Final = "ta.notifications.v1"
DEADLETTER: Final = "ta.deadletter.v1"
# Requests for a partner-portal sign-in link (intake → notifier): an e-mail address's digest.
PORTAL_SIGN_IN: Final = "ta.portal.sign-in.v1"

PARTITIONS: Final[dict[str, int]] = {
    REQUESTS_SUBMITTED: 6,
    REQUESTS: 6,
    ASSIGNMENTS: 6,
    ASSIGNMENT_RESPONSES: 6,
    NOTIFICATIONS: 6,
    DEADLETTER: 1,
    PORTAL_SIGN_IN: 1,
}


def partner_topic(partner_id: str) -> str:
    """The per-partner mirror topic written by notifier's `kafka` channel (1 partition)."""
    return f"ta.partner.{partner_id}.v1"


def partner_responses_topic(partner_id: str) -> str:
    """Where partner `partner_id` (and only it) writes its answers (brief §7.1)."""
    return f"ta.partner.{partner_id}.responses.v1"


def submitter_requests_topic(submitter: str) -> str:
    """Where upstream system `submitter` (and only it) publishes its submissions."""
    return f"ta.submitter.{submitter}.requests.v1"


def submitter_outcomes_topic(submitter: str) -> str:
    """The events of upstream system `submitter`'s own requests, rejections included."""
    return f"ta.submitter.{submitter}.outcomes.v1"


# Subscription patterns for the tenant topics (tenant ids never contain dots).
PARTNER_RESPONSES_PATTERN: Final = r"ta\.partner\.([a-z0-9][a-z0-9-]*)\.responses\.v1"
# The partners' mirror topics (partner_topic), which notifier writes and nobody here reads.
PARTNER_MIRROR_PATTERN: Final = r"ta\.partner\.([a-z0-9][a-z0-9-]*)\.v1"
SUBMITTER_REQUESTS_PATTERN: Final = r"ta\.submitter\.([a-z0-9][a-z0-9-]*)\.requests\.v1"


# The topics STAX's services consume, so the only ones a dead letter can come from and be replayed
# to (services.intake's dead-letter replay; shared.kafka_acls lets intake write each of them).
CONSUMED: Final = (
    REQUESTS_SUBMITTED,
    REQUESTS,
    ASSIGNMENTS,
    ASSIGNMENT_RESPONSES,
    NOTIFICATIONS,
    PORTAL_SIGN_IN,
)
CONSUMED_PATTERNS: Final = (PARTNER_RESPONSES_PATTERN, SUBMITTER_REQUESTS_PATTERN)


def is_consumed(topic: str) -> bool:
    """Whether a STAX service consumes `topic`: a fixed topic, or a tenant's topic it reads."""
    return topic in CONSUMED or any(tenant_of(topic, p) is not None for p in CONSUMED_PATTERNS)


def tenant_of(topic: str, pattern: str) -> str | None:
    """The tenant id a tenant topic belongs to (the broker's ACLs vouch for it), else None."""
    match = re.fullmatch(pattern, topic)
    return match.group(1) if match else None
