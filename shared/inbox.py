"""The inbox: which events a consumer has already applied, written in its state transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from shared.db import Conn


class Inbox:
    """`<schema>.inbox (consumer, ce_id)`; see each service's first migration."""

    def __init__(self, schema: str) -> None:
        self._claim = (
            f"INSERT INTO {schema}.inbox (consumer, ce_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        )
        # A batch's events in one round trip. An id twice in the array is inserted once: the
        # second row meets the first's conflict and is skipped.
        self._claim_all = (
            f"INSERT INTO {schema}.inbox (consumer, ce_id) SELECT $1, unnest($2::uuid[]) "
            "ON CONFLICT DO NOTHING RETURNING ce_id"
        )

    async def claim(self, conn: Conn, consumer: str, ce_id: UUID) -> bool:
        """True the first time; False if this consumer already applied the event.

        Must run inside the transaction that applies the event: if that transaction rolls back,
        so does the claim, and the redelivered event is applied then.
        """
        status: str = await conn.execute(self._claim, consumer, ce_id)
        return status == "INSERT 0 1"

    async def claim_all(self, conn: Conn, consumer: str, ce_ids: Sequence[UUID]) -> set[UUID]:
        """`claim` for many events in one statement: the ids claimed now (first seen), the
        others being duplicates. The same transaction rule applies."""
        if not ce_ids:
            return set()
        rows = await conn.fetch(self._claim_all, consumer, list(ce_ids))
        return {row["ce_id"] for row in rows}
