"""The Kafka topics of the public contract (product brief §3) and their default partition counts.

Services never create topics implicitly: `stax stack up`, the deploy manifests and the test
fixtures create exactly these, so a typo in a topic name fails loudly instead of making a topic.
"""

from __future__ import annotations

from typing import Final

REQUESTS_SUBMITTED: Final = "ta.requests.submitted.v1"
REQUESTS: Final = "ta.requests.v1"
ASSIGNMENTS: Final = "ta.assignments.v1"
ASSIGNMENT_RESPONSES: Final = "ta.assignments.responses.v1"
NOTIFICATIONS: Final = "ta.notifications.v1"
DEADLETTER: Final = "ta.deadletter.v1"

PARTITIONS: Final[dict[str, int]] = {
    REQUESTS_SUBMITTED: 6,
    REQUESTS: 6,
    ASSIGNMENTS: 6,
    ASSIGNMENT_RESPONSES: 6,
    NOTIFICATIONS: 6,
    DEADLETTER: 1,
}


def partner_topic(partner_id: str) -> str:
    """The per-partner mirror topic written by notifier's `kafka` channel (1 partition)."""
    return f"ta.partner.{partner_id}.v1"
