"""notifier.contacts of partners: e-mail addresses and their filters (requesters' contacts, in
the same table, are requesters.py's)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from services.notifier.domain import Contact
from services.notifier.repositories.partners import lock_partner
from shared.db import Conn

_COLUMNS = "contact_id, partner_id, email, name, language, event_types, enabled, created_at"


def _contact(row: asyncpg.Record) -> Contact:
    return Contact(**dict(row))


class ContactRepository:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def lock_partner(self, partner_id: str) -> None:
        await lock_partner(self._conn, partner_id)

    async def count(self, partner_id: str) -> int:
        count: int = await self._conn.fetchval(
            "SELECT count(*) FROM notifier.contacts WHERE partner_id = $1 AND enabled",
            partner_id,
        )
        return count

    async def create(
        self,
        *,
        contact_id: UUID,
        partner_id: str,
        email: str,
        name: str,
        language: str,
        event_types: list[str],
    ) -> Contact:
        row = await self._conn.fetchrow(
            "INSERT INTO notifier.contacts (contact_id, partner_id, email, name, language, "
            f"event_types) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            contact_id,
            partner_id,
            email,
            name,
            language,
            event_types,
        )
        assert row is not None  # INSERT … RETURNING always yields the row
        return _contact(row)

    async def ensure(self, *, contact_id: UUID, partner_id: str, email: str) -> None:
        """A configured address as a contact; the same id each start keeps it one row."""
        await self._conn.execute(
            "INSERT INTO notifier.contacts (contact_id, partner_id, email, name) "
            "VALUES ($1, $2, $3, 'configured') ON CONFLICT (contact_id) DO NOTHING",
            contact_id,
            partner_id,
            email,
        )

    async def of_partner(self, partner_id: str) -> list[Contact]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM notifier.contacts WHERE partner_id = $1 "
            "AND enabled ORDER BY created_at",
            partner_id,
        )
        return [_contact(r) for r in rows]

    async def with_address_digest(self, email_sha256: str) -> list[Contact]:
        """Partners' enabled contacts whose address has this digest (shared.sign_in_links
        .email_digest: SHA-256 of the trimmed, lower-cased address). Requesters' contacts, in
        the same table, never match: a portal sign-in is for partners only."""
        # The digest is computed here rather than stored: partners' contacts are few (quotas),
        # and a stored copy would be one more thing to keep in step with the address. btrim
        # and lower agree with Python's strip and lower on the addresses contacts have
        # (validated, no surrounding spaces; ASCII in practice).
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM notifier.contacts "
            "WHERE partner_id IS NOT NULL AND enabled "
            "AND encode(sha256(convert_to(lower(btrim(email)), 'UTF8')), 'hex') = $1 "
            "ORDER BY partner_id, created_at",
            email_sha256,
        )
        return [_contact(r) for r in rows]

    async def delete(self, partner_id: str, contact_id: UUID) -> bool:
        # Soft delete, like endpoints: deliveries reference the contact.
        result: str = await self._conn.execute(
            "UPDATE notifier.contacts SET enabled = false "
            "WHERE partner_id = $1 AND contact_id = $2 AND enabled",
            partner_id,
            contact_id,
        )
        return result == "UPDATE 1"
