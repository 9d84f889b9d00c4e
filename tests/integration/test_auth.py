"""API keys on the real PostgreSQL: stored hashed, resolved to principals, revocable."""

from __future__ import annotations

import asyncio
import secrets
from typing import cast

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


class CountingPool:
    """The real pool, counting the lookups the authenticator makes (to prove which never happen)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.lookups = 0

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        self.lookups += 1
        return await self._pool.fetchrow(query, *args)


def _counting(pool: asyncpg.Pool) -> tuple[CountingPool, auth.Authenticator]:
    counting = CountingPool(pool)
    # A TTL far longer than any test: what these tests show is eviction, not expiry.
    authenticate = auth.Authenticator(cast(asyncpg.Pool, counting), 3600, max_unknown=64)
    return counting, authenticate


MALFORMED = [
    "",
    "stax_",
    "stax__secret",
    "bearer stax_0123456789ab_" + "A" * 43,
    "stax_0123456789ab_" + "A" * 42,  # one character short of a real secret
    "stax_0123456789ab_" + "A" * 44,
    "stax_0123456789AB_" + "A" * 43,  # key ids are lower-case hex
    "stax_0123456789ab_" + "A" * 42 + "!",
    "x" * 10_000,
]


async def test_malformed_keys_never_reach_the_database_nor_the_cache(pool: asyncpg.Pool) -> None:
    counting, authenticate = _counting(pool)
    flood = [f"stax_{n}_" for n in range(20_000)] + [f"junk-{n}" for n in range(20_000)]
    for key in MALFORMED + flood:
        assert await authenticate(key) is None
    assert counting.lookups == 0
    assert authenticate.cache_size == 0


async def test_a_flood_of_unknown_keys_stays_bounded_and_never_evicts_a_real_one(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as conn:
        principal, key = await auth.create_key(conn, role="submitter", name=f"f-{unique}")
    counting, authenticate = _counting(pool)
    assert await authenticate(key) == principal
    flood = [f"stax_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}" for _ in range(2_000)]
    for unknown in flood:
        assert await authenticate(unknown) is None
    assert counting.lookups == 1 + len(flood)  # each unknown key is asked about once
    assert authenticate.cache_size <= 1 + 64
    assert await authenticate(key) == principal
    assert counting.lookups == 1 + len(flood)  # the real key was still cached: no lookup
    assert await authenticate(flood[-1]) is None
    assert counting.lookups == 1 + len(flood)  # a recent unknown key is remembered briefly


async def test_a_revoked_key_is_refused_once_its_cached_answer_expires(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with pool.acquire() as conn:
        principal, key = await auth.create_key(conn, role="operator", name=f"r-{unique}")
        authenticate = auth.Authenticator(pool, ttl_seconds=0.5)
        assert await authenticate(key) == principal
        assert await auth.revoke_key(conn, principal.key_id)
    assert await authenticate(key) == principal  # cached: the revocation is not seen yet
    await asyncio.sleep(0.6)
    assert await authenticate(key) is None
