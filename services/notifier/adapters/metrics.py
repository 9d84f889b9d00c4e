"""notifier's business metrics (Prometheus, served at /metrics): every delivery attempt by
channel and status, counted once the attempt is recorded (`uow.after_commit`), and the partners'
Kafka-channel mirrors, counted as the outbox relay settles them.

status is what the attempt came to: delivered; failed (it will be tried again); gave_up (it will
not be: out of attempts, refused for good, or its endpoint or contact gone). A mirror is
delivered once Kafka acknowledged it, and gave_up if the outbox had to quarantine it.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from shared.outbox import KafkaRecord
from shared.topics import PARTNER_MIRROR_PATTERN, tenant_of

CHANNELS = ("webhook", "email", "kafka")
STATUSES = ("delivered", "failed", "gave_up")

# A delivery's status once the attempt is recorded (domain.outcome_status) → the metric's word.
_STATUS = {"delivered": "delivered", "pending": "failed", "failed": "gave_up"}

DELIVERIES = Counter(
    "stax_deliveries_total",
    "Delivery attempts, by channel and what they came to",
    ["channel", "status"],
)

for _channel in CHANNELS:  # every series from the start, so a rate over a new one is not missing
    for _status in STATUSES:
        DELIVERIES.labels(_channel, _status)


def attempt_recorded(channel: str, status: str) -> None:
    """An attempt on `channel` left its delivery `status` (delivered, pending or failed)."""
    DELIVERIES.labels(channel, _STATUS[status]).inc()


def mirrors_relayed(relayed: Sequence[KafkaRecord], set_aside: Sequence[KafkaRecord]) -> None:
    """shared.outbox's relay settled a batch; the partners' mirrors among it are deliveries."""
    for records, status in ((relayed, "delivered"), (set_aside, "gave_up")):
        mirrors = sum(tenant_of(topic, PARTNER_MIRROR_PATTERN) is not None for topic, *_ in records)
        if mirrors:
            DELIVERIES.labels("kafka", status).inc(mirrors)
