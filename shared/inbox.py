"""The inbox: which events a consumer has already applied, written in its state transaction."""

from __future__ import annotations

from uuid import UUID

from shared.db import Conn


class Inbox:
    """`<schema>.inbox (consumer, ce_id)`; see each service's first migration."""

    def __init__(self, schema: str) -> None:
        self._claim = (
            f"INSERT INTO {schema}.inbox (consumer, ce_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )

    async def claim(self, conn: Conn, consumer: str, ce_id: UUID) -> bool:
        """True the first time; False if this consumer already applied the event.

        Must run inside the transaction that applies the event: if that transaction rolls back,
        so does the claim, and the redelivered event is applied then.
        """
        status: str = await conn.execute(self._claim, consumer, ce_id)
        return status == "INSERT 0 1"
