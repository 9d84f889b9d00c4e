"""The lock that serialises one partner's subscription changes (endpoints and contacts)."""

from __future__ import annotations

from shared.db import Conn


async def lock_partner(conn: Conn, partner_id: str) -> None:
    """Serialise the creation of one partner's endpoints and contacts until the transaction
    ends, so that a quota count and the insert after it see every row created before. Row
    locks cannot do this (nothing locks rows not inserted yet, and a partner may have none),
    nor one INSERT … SELECT count (two of them, under READ COMMITTED, count the same rows)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('notifier.partner'), hashtext($1))", partner_id
    )
