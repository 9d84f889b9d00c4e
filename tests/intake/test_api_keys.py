"""`stax keys` for intake's callers: created with a role, shown once, stored hashed, listable,
revocable, and never written to logs."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import httpx
import pytest
from typer.testing import CliRunner

from deploy.operations.cli import app as cli
from shared import auth
from tests.intake.events import eventually
from tests.intake.samples import submission


def _stax(database_url: str, *args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, list(args), env={"STAX_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


async def test_keys_are_created_per_role_shown_once_stored_hashed_and_listed(
    database_url: str, pool: asyncpg.Pool, unique: str
) -> None:
    made = {}
    for args in (
        ("--role", "submitter", "--name", f"national-portal-{unique}"),
        ("--role", "partner", "--partner", f"unido-{unique}"),
        ("--role", "operator", "--name", f"ops-{unique}"),
    ):
        out, err = await asyncio.to_thread(_stax, database_url, "keys", "create", *args)
        key = out.strip().splitlines()[-1]  # the key is the last line, printed once
        assert key.startswith("stax_")
        assert key not in err
        made[args[1]] = key
    rows = await pool.fetch("SELECT * FROM auth.api_keys WHERE name LIKE $1", f"%{unique}")
    assert {r["role"] for r in rows} == {"submitter", "partner", "operator"}
    stored = " ".join(str(v) for r in rows for v in r.values())
    assert not [k for k in made.values() if k in stored]
    assert {auth.hash_key(k) for k in made.values()} == {r["key_hash"] for r in rows}

    listing, _ = await asyncio.to_thread(_stax, database_url, "keys", "list")
    assert f"national-portal-{unique}" in listing
    assert f"unido-{unique}" in listing
    assert not [k for k in made.values() if k in listing]


async def test_a_revoked_key_is_refused_and_no_key_reaches_the_logs(
    database_url: str,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    unique: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    out, _ = await asyncio.to_thread(
        _stax, database_url, "keys", "create", "--role", "submitter", "--name", f"rv-{unique}"
    )
    key = out.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    headers = {"Authorization": f"Bearer {key}"}
    ok = await client.post("/v1/requests", json=submission(f"rv-{unique}"), headers=headers)
    assert ok.status_code == 202

    await asyncio.to_thread(_stax, database_url, "keys", "revoke", key_id)

    async def attempt() -> int:
        again = await client.post("/v1/requests", json=submission(f"rv2-{unique}"), headers=headers)
        return again.status_code

    # Principals are cached for a few seconds (shared.auth): the revocation lands within that.
    assert await eventually(attempt, lambda status: status == 401, wait=15) == 401
    assert key not in caplog.text
    secret = key.split("_", 2)[2]
    assert secret not in caplog.text
