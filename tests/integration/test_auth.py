"""API keys on the real PostgreSQL: stored hashed, resolved to principals, revocable."""

from __future__ import annotations

import asyncpg
import pytest

from shared import auth


async def test_a_created_key_resolves_to_its_principal_and_is_stored_only_hashed(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as conn:
        principal, key = await auth.create_key(
            conn, role="partner", name=f"p-{unique}", partner_id=f"partner-{unique}"
        )
        stored = await conn.fetchrow(
            "SELECT * FROM auth.api_keys WHERE key_id = $1", principal.key_id
        )
    assert stored is not None
    assert key not in [str(v) for v in stored.values()]
    assert stored["key_hash"] == auth.hash_key(key)
    assert await auth.Authenticator(pool)(key) == principal


async def test_unknown_malformed_and_revoked_keys_resolve_to_nobody(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as conn:
        principal, key = await auth.create_key(conn, role="operator", name=f"o-{unique}")
        authenticate = auth.Authenticator(pool, ttl_seconds=0)
        assert await authenticate(key) == principal
        assert await auth.revoke_key(conn, principal.key_id)
        assert not await auth.revoke_key(conn, principal.key_id)  # already revoked
    assert await authenticate(key) is None
    assert await authenticate(key + "x") is None
    assert await authenticate("not-a-stax-key") is None


async def test_partner_ids_go_with_partner_keys_only(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="partner"):
            await auth.create_key(conn, role="partner", name="x")
        with pytest.raises(ValueError, match="partner"):
            await auth.create_key(conn, role="submitter", name="x", partner_id="unido")
