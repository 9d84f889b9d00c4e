"""`stax keys`: API keys in the database the stack (or STAX_DATABASE_URL) points at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from deploy.local.stack import StackSettings
from shared import auth, migrator
from shared.migrator import AUTH


@asynccontextmanager
async def _connect(cfg: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cfg.db_url, timeout=10)
    try:
        await migrator.apply(conn, "auth", AUTH)  # a no-op once applied
        yield conn
    finally:
        await conn.close()


async def create(
    cfg: StackSettings,
    role: auth.Role,
    name: str,
    partner_id: str | None,
    submitter_id: str | None = None,
) -> tuple[auth.Principal, str]:
    async with _connect(cfg) as conn:
        return await auth.create_key(
            conn, role=role, name=name, partner_id=partner_id, submitter_id=submitter_id
        )


async def list_all(cfg: StackSettings) -> list[auth.KeyInfo]:
    async with _connect(cfg) as conn:
        return await auth.list_keys(conn)


async def revoke(cfg: StackSettings, key_id: str) -> bool:
    async with _connect(cfg) as conn:
        return await auth.revoke_key(conn, key_id)
