"""API keys: the platform's authentication, shared by the three services (product brief §2).

A key looks like `stax_<key_id>_<secret>`. Only its SHA-256 is stored (schema `auth`, migrated by
shared/migrations); `key_id` is the public part, safe to show and log. Keys are created, listed
and revoked with `stax keys`, checked on every `/v1` request by `shared.api_gate`, and routes
ask for roles with `require_role`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import asyncpg
from cachetools import TTLCache
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shared.db import Conn
from shared.kafka_acls import check_tenant_id

Role = Literal["submitter", "partner", "operator"]
ROLES: tuple[Role, ...] = ("submitter", "partner", "operator")
_PREFIX = "stax_"
_KEY_ID_BYTES, _SECRET_BYTES = 6, 32
# What create_key makes: token_hex(6) is 12 lower-case hex digits, token_urlsafe(32) is 32 bytes
# in unpadded URL-safe base64, 43 characters. Change these together with create_key.
_SHAPE = re.compile(rf"{_PREFIX}[0-9a-f]{{{2 * _KEY_ID_BYTES}}}_[A-Za-z0-9_-]{{43}}")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, role, name, and whom it acts for — the partner id of a
    partner key, the submitter id of a submitter key (the namespace of its requests)."""

    key_id: str
    role: Role
    name: str
    partner_id: str | None
    submitter_id: str | None = None


@dataclass(frozen=True)
class KeyInfo:
    principal: Principal
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def well_formed(key: str) -> bool:
    """Exactly the shape `create_key` makes: anything else is no key and is never looked up."""
    return _SHAPE.fullmatch(key) is not None


async def create_key(
    conn: Conn,
    *,
    role: Role,
    name: str,
    partner_id: str | None = None,
    submitter_id: str | None = None,
) -> tuple[Principal, str]:
    """Store a new key's hash; returns the principal and the key, which is never stored.

    A submitter key without a submitter id gets a new one of its own: two keys share a
    namespace only when told to, never because their display names happen to match."""
    if (role == "partner") != (partner_id is not None):
        raise ValueError("a partner key needs --partner, and only a partner key takes one")
    if role != "submitter" and submitter_id is not None:
        raise ValueError("only a submitter key takes --submitter")
    key_id = secrets.token_hex(_KEY_ID_BYTES)
    if role == "submitter":
        submitter_id = check_tenant_id(submitter_id or f"submitter-{key_id}")
    principal = Principal(key_id, role, name, partner_id, submitter_id)
    key = f"{_PREFIX}{principal.key_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    await conn.execute(
        "INSERT INTO auth.api_keys (key_id, key_hash, role, name, partner_id, submitter_id) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        principal.key_id,
        hash_key(key),
        role,
        name,
        partner_id,
        submitter_id,
    )
    return principal, key


async def list_keys(conn: Conn) -> list[KeyInfo]:
    rows = await conn.fetch(
        "SELECT key_id, role, name, partner_id, submitter_id, created_at, revoked_at "
        "FROM auth.api_keys ORDER BY created_at"
    )
    return [
        KeyInfo(
            Principal(r["key_id"], r["role"], r["name"], r["partner_id"], r["submitter_id"]),
            r["created_at"],
            r["revoked_at"],
        )
        for r in rows
    ]


async def revoke_key(conn: Conn, key_id: str) -> bool:
    status: str = await conn.execute(
        "UPDATE auth.api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
    )
    return status == "UPDATE 1"


class Authenticator:
    """Resolves keys to principals, caching answers briefly: a revocation takes effect within
    `ttl_seconds` without a database round trip on every request.

    Whatever a caller sends lands here, so nothing it sends may grow memory or push out what a
    real caller owns:
    - a malformed key is refused by its shape alone: no lookup, and never cached (a flood of
      junk costs a regex match each and leaves nothing behind);
    - real principals and unknown well-formed keys live in two separate bounded TTL caches.
      Anyone can mint unlimited well-formed keys, so unknown ones may only ever evict each
      other: a flood of random keys churns `max_unknown` entries and never a real principal.
      Remembering them at all serves the one repeat that matters — a client retrying the same
      revoked or mistyped key — so a small cache is enough. Each new random key costs one
      indexed lookup, the same as a real key's; the gate (shared.api_gate) rate-limits those
      failures per client address.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        ttl_seconds: float = 5.0,
        *,
        max_known: int = 10_000,
        max_unknown: int = 1_000,
    ) -> None:
        self._pool = pool
        self._known: TTLCache[str, Principal] = TTLCache(maxsize=max_known, ttl=ttl_seconds)
        self._unknown: TTLCache[str, bool] = TTLCache(maxsize=max_unknown, ttl=ttl_seconds)

    @property
    def cache_size(self) -> int:
        """Entries held (both caches), at most `max_known + max_unknown`."""
        return len(self._known) + len(self._unknown)

    async def __call__(self, key: str) -> Principal | None:
        if not well_formed(key):
            return None
        digest = hash_key(key)
        known = self._known.get(digest)
        if known is not None:
            return known
        if digest in self._unknown:
            return None
        found = await self._lookup(digest)
        if found is None:
            self._unknown[digest] = True
        else:
            self._known[digest] = found
        return found

    async def _lookup(self, digest: str) -> Principal | None:
        row = await self._pool.fetchrow(
            "SELECT key_id, role, name, partner_id, submitter_id FROM auth.api_keys "
            "WHERE key_hash = $1 AND revoked_at IS NULL",
            digest,
        )
        if row is None:
            return None
        return Principal(
            row["key_id"], row["role"], row["name"], row["partner_id"], row["submitter_id"]
        )


PRINCIPAL = "principal"  # the request state's entry that shared.api_gate fills


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key of `Authorization: Bearer …`, else of `X-API-Key` (as `_bearer` and `_header`)."""
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return headers.get("x-api-key") or None


# These only describe the two ways to send a key in OpenAPI: shared.api_gate reads the key.
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer stax_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="or `X-API-Key: stax_…`")


async def current_principal(
    request: Request,
    _bearer_scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    _header_scheme: Annotated[str | None, Security(_header)],
) -> Principal:
    """The caller, as shared.api_gate authenticated it before the body was read."""
    principal = getattr(request.state, PRINCIPAL, None)
    if not isinstance(principal, Principal):
        # Only a route the gate does not cover gets here (outside /v1, or an app without it):
        # refuse rather than trust.
        raise HTTPException(401, "an API key is required", {"WWW-Authenticate": "Bearer"})
    return principal


def require_role(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller, if its key has one of `roles`; else 403."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            raise HTTPException(
                403, f"this needs a key with role {' or '.join(roles)}, not {principal.role}"
            )
        return principal

    return check
