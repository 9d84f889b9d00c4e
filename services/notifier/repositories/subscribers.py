"""Who of a partner hears of its events, read across notifier.contacts, notifier.endpoints and
notifier.kafka_channels in one statement: the fan-out asks this for every partner event."""

from __future__ import annotations

from services.notifier.domain import KafkaChannel, Subscriber, Subscribers
from shared.db import Conn

# One round trip instead of three. The kinds share the columns they have in common; the
# channel's own columns are NULL on the other rows.
_OF_PARTNER = """
SELECT 'contact' AS kind, contact_id AS target_id, event_types,
       NULL::text AS topic, NULL::timestamptz AS created_at
FROM notifier.contacts WHERE partner_id = $1 AND enabled
UNION ALL
SELECT 'endpoint', endpoint_id, event_types, NULL, NULL
FROM notifier.endpoints WHERE partner_id = $1 AND enabled AND NOT deleted
UNION ALL
SELECT 'channel', NULL, event_types, topic, created_at
FROM notifier.kafka_channels WHERE partner_id = $1 AND enabled
"""


class SubscriberRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def of_partner(self, partner_id: str) -> Subscribers:
        """The partner's enabled contacts, its enabled endpoints and its enabled Kafka channel."""
        contacts: list[Subscriber] = []
        endpoints: list[Subscriber] = []
        channel: KafkaChannel | None = None
        for row in await self._conn.fetch(_OF_PARTNER, partner_id):
            if row["kind"] == "channel":
                channel = KafkaChannel(
                    partner_id, row["topic"], row["event_types"], True, row["created_at"]
                )
                continue
            mine = contacts if row["kind"] == "contact" else endpoints
            mine.append(Subscriber(row["target_id"], row["event_types"]))
        return Subscribers(partner_id, contacts, endpoints, channel)
