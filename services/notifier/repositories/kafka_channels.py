"""notifier.kafka_channels: which partners have their events mirrored to their own topic."""

from __future__ import annotations

import asyncpg

from services.notifier.domain import KafkaChannel
from shared.db import Conn

_COLUMNS = "partner_id, topic, event_types, enabled, created_at"


def _channel(row: asyncpg.Record | None) -> KafkaChannel | None:
    return None if row is None else KafkaChannel(**dict(row))


class KafkaChannelRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def put(self, partner_id: str, topic: str, event_types: list[str]) -> KafkaChannel:
        row = await self._conn.fetchrow(
            "INSERT INTO notifier.kafka_channels (partner_id, topic, event_types) "
            "VALUES ($1, $2, $3) "
            "ON CONFLICT (partner_id) DO UPDATE SET event_types = $3, enabled = true "
            f"RETURNING {_COLUMNS}",
            partner_id,
            topic,
            event_types,
        )
        channel = _channel(row)
        assert channel is not None  # INSERT … RETURNING always yields the row
        return channel

    async def get(self, partner_id: str) -> KafkaChannel | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM notifier.kafka_channels WHERE partner_id = $1", partner_id
        )
        return _channel(row)

    async def disable(self, partner_id: str) -> bool:
        result: str = await self._conn.execute(
            "UPDATE notifier.kafka_channels SET enabled = false WHERE partner_id = $1 AND enabled",
            partner_id,
        )
        return result == "UPDATE 1"
