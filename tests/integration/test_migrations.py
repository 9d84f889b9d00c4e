"""Migrations on the real PostgreSQL: an empty database, then a second run that changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.intake.migrations import MIGRATIONS as INTAKE
from services.matcher.migrations import MIGRATIONS as MATCHER
from services.notifier.migrations import MIGRATIONS as NOTIFIER
from shared import migrator

SERVICES = (INTAKE, MATCHER, NOTIFIER)
COMPONENTS = {"auth", *(s.schema for s in SERVICES), *(f"messaging.{s.schema}" for s in SERVICES)}


@pytest.fixture
async def empty_db(pool: asyncpg.Pool, database_url: str, unique: str) -> AsyncIterator[str]:
    name = f"stax_empty_{unique}"
    await pool.execute(f'CREATE DATABASE "{name}"')
    yield database_url.rsplit("/", 1)[0] + "/" + name
    await pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


async def _apply_all(url: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(url)
    applied: dict[str, list[str]] = {}
    try:
        for service in SERVICES:
            for component, names in (await service.apply(conn)).items():
                applied[component] = applied.get(component, []) + names
        return applied
    finally:
        await conn.close()


async def test_migrations_apply_to_an_empty_database_and_a_second_run_is_a_no_op(
    empty_db: str,
) -> None:
    first = await _apply_all(empty_db)
    assert all(first[c] for c in COMPONENTS), first
    assert await _apply_all(empty_db) == {c: [] for c in COMPONENTS}
    conn = await asyncpg.connect(empty_db)
    try:
        schemas = {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'notifier'"
        )
    finally:
        await conn.close()
    assert {"auth", "intake", "matcher", "notifier"} <= schemas
    assert tables >= 4
    for service in SERVICES:  # the one definition of the inbox and outbox, on every schema
        for table in ("inbox", "outbox"):
            assert await _exists(empty_db, f"{service.schema}.{table}"), table


async def _exists(url: str, table: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table) is True
    finally:
        await conn.close()


async def test_an_applied_migration_edited_afterwards_is_refused(
    empty_db: str, tmp_path: Path
) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE public.t_first (id int);")
    conn = await asyncpg.connect(empty_db)
    try:
        assert await migrator.apply(conn, "scratch", tmp_path) == ["0001_first"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE public.t_first (id bigint);")
        with pytest.raises(migrator.MigrationError, match="changed after it was applied"):
            await migrator.apply(conn, "scratch", tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_applied(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE public.t_good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE public.t_bad (id no_such_type);")
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(asyncpg.PostgresError):
            await migrator.apply(conn, "scratch", tmp_path)
        assert await conn.fetchval("SELECT to_regclass('public.t_good')") is None
    finally:
        await conn.close()
