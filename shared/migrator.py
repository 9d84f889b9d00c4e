"""Numbered SQL migrations per component (`0001_name.sql`, …), applied once each, in order.

Each component keeps its own sequence in `public.stax_migrations`: `auth` (the shared schema),
each service's own schema, and `messaging.<schema>` — the inbox and outbox, defined once in
`migrations/messaging/` and applied to each service's schema. One run is one transaction (each
file a savepoint inside it, with its bookkeeping row), so a failing file leaves nothing of that
run applied.

A service exports its migrations as a `ServiceMigrations` (`services.<name>.migrations`); the
service itself, `stax init` and the test and benchmark stacks all apply them through it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from shared.db import Conn

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

AUTH = Path(__file__).parent / "migrations"
MESSAGING = AUTH / "messaging"

_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS public.stax_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


class MigrationError(RuntimeError):
    """A migration file is malformed, out of sequence, or was edited after being applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(folder: Path) -> list[Migration]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path}: name must look like 0001_short_name.sql")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{folder}: expected version {expected:04d}, found "
                f"{migration.version:04d}_{migration.name}"
            )
    return found


async def apply(
    conn: Conn, component: str, folder: Path, params: Mapping[str, str] | None = None
) -> list[str]:
    """Apply the pending migrations of one component; returns the names applied.

    `params` fill `${name}` placeholders (string.Template); the checksum is the template's, so
    one definition applied to several schemas is one text, checked the same way everywhere."""
    migrations = load(folder)
    # One runner at a time per database: several replicas starting together would otherwise
    # race to apply the same file. The lock is released when the session's transaction ends.
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('stax.migrations'))")
        await conn.execute(_BOOKKEEPING)
        applied = {
            r["version"]: r["checksum"]
            for r in await conn.fetch(
                "SELECT version, checksum FROM public.stax_migrations WHERE component = $1",
                component,
            )
        }
        done = []
        for migration in migrations:
            if migration.version in applied:
                _check_unchanged(component, migration, applied[migration.version])
                continue
            await _apply_one(conn, component, migration, params or {})
            done.append(f"{migration.version:04d}_{migration.name}")
        return done


def _check_unchanged(component: str, migration: Migration, checksum: str) -> None:
    if checksum != migration.checksum:
        raise MigrationError(
            f"{component} {migration.version:04d}_{migration.name} changed after "
            "it was applied; add a new migration instead of editing an old one"
        )


async def _apply_one(
    conn: Conn, component: str, migration: Migration, params: Mapping[str, str]
) -> None:
    async with conn.transaction():  # a savepoint inside the locked transaction
        await conn.execute(Template(migration.sql).substitute(params) if params else migration.sql)
        await conn.execute(
            "INSERT INTO public.stax_migrations (component, version, name, checksum) "
            "VALUES ($1, $2, $3, $4)",
            component,
            migration.version,
            migration.name,
            migration.checksum,
        )


@dataclass(frozen=True)
class ServiceMigrations:
    """What one service's schema needs: the shared `auth` schema, its own migrations, then its
    inbox and outbox (the one definition in `migrations/messaging/`, on its schema)."""

    schema: str
    folder: Path

    def __post_init__(self) -> None:
        if not _SCHEMA.match(self.schema):  # substituted into SQL: a constant, checked anyway
            raise MigrationError(f"{self.schema!r} is not a schema name")

    async def apply(self, conn: Conn) -> dict[str, list[str]]:
        """Apply what is pending; returns the names applied per component."""
        return {
            "auth": await apply(conn, "auth", AUTH),
            self.schema: await apply(conn, self.schema, self.folder),
            f"messaging.{self.schema}": await apply(
                conn, f"messaging.{self.schema}", MESSAGING, {"schema": self.schema}
            ),
        }
