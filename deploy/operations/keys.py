"""`stax keys`: API keys in the database at STAX_DATABASE_URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared import auth, migrator
from shared.migrator import AUTH


@asynccontextmanager
async def _connect(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url, timeout=10)
    try:
        await migrator.apply(conn, "auth", AUTH)  # a no-op once applied
        yield conn
    finally:
        await conn.close()


async def create(
    database_url: str,
    role: auth.Role,
    name: str,
    partner_id: str | None,
    submitter_id: str | None = None,
) -> tuple[auth.Principal, str]:
    async with _connect(database_url) as conn:
        return await auth.create_key(
            conn, role=role, name=name, partner_id=partner_id, submitter_id=submitter_id
        )


async def list_all(database_url: str) -> list[auth.KeyInfo]:
    async with _connect(database_url) as conn:
        return await auth.list_keys(conn)


async def revoke(database_url: str, key_id: str) -> bool:
    async with _connect(database_url) as conn:
        return await auth.revoke_key(conn, key_id)
