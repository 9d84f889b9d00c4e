"""End to end: a request's personal data, once erased, is left in no table of any schema.

The three services run as processes; the request goes in over HTTP, is offered, and its Party
is mailed. Then an operator erases it (the `stax requests erase` code path) and every text,
JSON and bytea column of every table is searched for the contact's name, address and body.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from deploy.operations import requests
from deploy.operations.settings import OperationsSettings
from shared.auth import create_key
from tests.notifier.helpers import SmtpSink, smtp_server
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

# Every column a person's data could sit in: text of any kind, JSON, bytes, arrays of text.
SCANNED_TYPES = ("text", "character varying", "character", "json", "jsonb", "bytea")
SCANNED_ARRAYS = ("_text", "_varchar")


@dataclass(frozen=True)
class Column:
    schema: str
    table: str
    column: str
    data_type: str

    def search_sql(self) -> str:
        name = f'"{self.schema}"."{self.table}"'
        if self.data_type == "bytea":  # raw bytes: look for the needle's UTF-8 bytes
            needle = "convert_to($1, 'UTF8')"
            return f'SELECT count(*) FROM {name} WHERE position({needle} in "{self.column}") > 0'
        return f'SELECT count(*) FROM {name} WHERE position($1 in "{self.column}"::text) > 0'

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


async def every_column(pool: asyncpg.Pool) -> list[Column]:
    rows = await pool.fetch(
        "SELECT c.table_schema, c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "  USING (table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' "
        "  AND c.table_schema NOT IN ('pg_catalog', 'information_schema') "
        "  AND (c.data_type = ANY($1::text[]) OR c.udt_name = ANY($2::text[]))",
        list(SCANNED_TYPES),
        list(SCANNED_ARRAYS),
    )
    return [Column(*r) for r in rows]


async def copies(pool: asyncpg.Pool, needles: list[str]) -> dict[str, int]:
    """Column → rows holding any of `needles`, over every table of every schema."""
    found: dict[str, int] = {}
    for column in await every_column(pool):
        for needle in needles:
            if hits := await pool.fetchval(column.search_sql(), needle):
                found[str(column)] = found.get(str(column), 0) + hits
    return found


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def running(services: Services, smtp: tuple[SmtpSink, int]) -> Iterator[Services]:
    services.restart(
        "notifier",
        {
            "STAX_NOTIFIER_SMTP_PORT": str(smtp[1]),
            "STAX_NOTIFIER_POLL_SECONDS": "0.1",
            "STAX_OUTBOX_POLL_SECONDS": "0.2",
        },
    )
    services.ensure("intake", "matcher")
    yield services
    services.stop("notifier")


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, operator = await create_key(conn, role="operator", name="pii-operator")
        _, submitter = await create_key(conn, role="submitter", name="pii-portal")
    return {"operator": operator, "submitter": submitter}


def _person(unique: str) -> dict[str, str]:
    # ASCII and unique to this test: JSON stores it as is, and no other test has it.
    return {
        "name": f"Erasable Person {unique}",
        "email": f"erasable-{unique}@example.org",
        "organisation": f"Ministry of Erasure {unique}",
    }


def _submission(ref: str, person: dict[str, str]) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": person,
    }


async def _wait(check: Callable[[], Awaitable[bool]], within: float) -> None:
    """Until `check` holds or `within` seconds passed; the caller asserts what it needs."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.3)


async def _timeline(client: httpx.AsyncClient, url: str) -> list[str]:
    answer = await client.get(url)
    assert answer.status_code == 200, answer.text
    return [entry["event"] for entry in answer.json()["timeline"]]


async def test_an_erased_request_leaves_no_copy_of_its_contact_in_any_schema(
    running: Services,
    smtp: tuple[SmtpSink, int],
    keys: dict[str, str],
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    person = _person(unique)
    needles = list(person.values())
    intake = running.url("intake")
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    async with httpx.AsyncClient(timeout=10, headers=operator) as client:
        sent = await client.post(
            f"{intake}/v1/requests",
            json=_submission(f"pii-{unique}", person),
            headers={"Authorization": f"Bearer {keys['submitter']}"},
        )
        assert sent.status_code == 202, sent.text
        request_id = sent.json()["request_id"]
        request_url = f"{intake}/v1/requests/{request_id}"

        async def flowed() -> bool:
            events = await _timeline(client, request_url)
            mailed = any(person["email"] in str(m["To"]) for m in smtp[0].messages)
            return mailed and {"ta.assignment.offered", "ta.notification.delivered"} <= set(events)

        await _wait(flowed, 90)
        assert await flowed(), "offered, and the Party mailed and that reported"
        before = await copies(pool, needles)
        # The search finds what is there, bytes included: intake's request and the event it
        # published, notifier's contact and the body of the mail it sent...
        assert {
            "intake.requests.submission",
            "intake.outbox.value",
            "notifier.contacts.email",
            "notifier.deliveries.payload",
        } <= set(before), before
        # ...and matcher, which never uses the contact, never kept it.
        assert not [c for c in before if c.startswith("matcher.")], before

        cfg = OperationsSettings(intake_url=intake, operator_key=SecretStr(keys["operator"]))
        first = await asyncio.to_thread(requests.erase, cfg, request_id)  # `stax requests erase`
        again = await client.post(f"{request_url}/erasure")
        assert again.status_code == 202, again.text
        assert again.json()["erased_at"] == first["erased_at"]  # idempotent: one erasure

        async def erased_everywhere() -> bool:
            return not await copies(pool, needles)

        await _wait(erased_everywhere, 60)
        assert await copies(pool, needles) == {}
        events = await _timeline(client, request_url)
    assert events.count("ta.request.erased") == 1
