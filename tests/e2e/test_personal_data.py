"""End to end: a request's personal data, once erased, is left in no table of any schema; and
the services' logs never held it, nor any secret.

The three services run as processes; the request goes in over HTTP, is offered, and its Party
is mailed. Then an operator erases it (the `stax requests erase` code path) and every text,
JSON and bytea column of every table is searched for the contact's name, address and body.
The second test runs a flow with every kind of secret in it (keys, a webhook secret, a signed
answer link) and reads each service's log (brief §7.5: JSON lines; issue 15: nothing secret).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from deploy.local import stack
from deploy.local.receiver import WebhookReceiver
from deploy.operations import requests
from deploy.operations.settings import OperationsSettings
from shared.auth import create_key
from shared.kafka_acls import service_principal
from tests.e2e.offer_mail import CONTACT, accepted, lead_contact, offer_mail, timeline
from tests.e2e.service_logs import ServiceLog
from tests.e2e.test_walking_skeleton import LEAD
from tests.intake.events import eventually
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


@pytest.fixture
def partner_webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


async def test_the_services_log_json_lines_that_hold_no_secret_and_no_personal_data(
    running: Services,
    smtp: tuple[SmtpSink, int],
    keys: dict[str, str],
    partner_webhook: WebhookReceiver,
    idle_partners: None,
    unique: str,
) -> None:
    person = _person(unique)
    body = {
        **_submission(f"logs-{unique}", person),
        "description": f"Private remark {unique}: the inventory lacks three sites.",
    }
    intake, notifier = running.url("intake"), running.url("notifier")
    operator = {"Authorization": f"Bearer {keys['operator']}"}
    submitter = {"Authorization": f"Bearer {keys['submitter']}"}
    unknown_key = f"stax_{unique}_notarealsecret{unique}"
    hook = f"{partner_webhook.url}?token=hook-{unique}"  # a partner's URL may hold a token
    async with httpx.AsyncClient(timeout=10) as http, lead_contact(http, notifier, operator):
        made = await http.post(
            f"{notifier}/v1/partners/{LEAD}/endpoints",
            json={"url": hook, "event_types": ["ta.assignment.offered"]},
            headers=operator,
        )
        assert made.status_code == 201, made.text
        webhook_secret = made.json()["secret"]
        partner_webhook.secrets.append(webhook_secret)
        try:
            refused = await http.post(
                f"{intake}/v1/requests", json=body, headers={"X-API-Key": unknown_key}
            )
            assert refused.status_code == 401
            sent = await http.post(f"{intake}/v1/requests", json=body, headers=submitter)
            assert sent.status_code == 202, sent.text
            request_id = sent.json()["request_id"]
            token = await _accept_by_mail(http, smtp[0], intake, request_id, submitter)
            hooked = await asyncio.to_thread(
                partner_webhook.wait_for, lambda r: request_id in str(r.body), 60
            )
            assert [r.verified for r in hooked] == [True]
        finally:
            endpoint = made.json()["endpoint_id"]
            await http.delete(
                f"{notifier}/v1/partners/{LEAD}/endpoints/{endpoint}", headers=operator
            )

    secrets = _service_secrets(running.cfg) | {
        "the submitter's key": keys["submitter"],
        "the operator's key": keys["operator"],
        "a key's secret part": keys["submitter"].split("_", 2)[2],  # stax_<key_id>_<secret>
        "an unknown key": unknown_key,
        "the webhook secret": webhook_secret,
        "the webhook URL's token": f"hook-{unique}",
        "the answer link's token": token,
    }
    personal = {**person, "the request's free text": body["description"], "a contact": CONTACT}
    logs = {service: ServiceLog.read(running.cfg, service) for service in stack.SERVICES}
    assert {s: log.holding(secrets | personal) for s, log in logs.items()} == {s: [] for s in logs}
    lines = {s: log.lines() for s, log in logs.items()}  # every line JSON, with the fields
    assert all(lines.values())
    assert [line for log in logs.values() for line in log.per_message_lines()] == []
    mine = {
        s: [x for x in found if x.get("request_id") == request_id] for s, found in lines.items()
    }
    assert mine["intake"] and mine["matcher"], "accepted, answered, offered: each said by id"
    # A line logged while a record about the request was consumed (shared.consuming binds ce_id).
    assert [line for found in mine.values() for line in found if "ce_id" in line]


def _service_secrets(cfg: stack.StackSettings) -> dict[str, str]:
    """The secrets the services were started with: their Kafka passwords, the links' secret."""
    return {"the answer link secret": stack.answer_link_secret(cfg)} | {
        f"{service}'s Kafka password": cfg.kafka_access(service_principal(service)).password
        for service in stack.SERVICES
    }


async def _accept_by_mail(
    http: httpx.AsyncClient, sink: SmtpSink, intake: str, request_id: str, reader: dict[str, str]
) -> str:
    """The lead's offer e-mail caught, its Accept link prefetched, then followed; its token."""

    async def caught() -> str | None:
        await asyncio.sleep(0.2)
        mail = offer_mail(sink, request_id)
        text = mail.get_body(("plain",)) if mail else None
        link = re.search(r"Accept: (http://\S+/answer/\S+)", text.get_content()) if text else None
        return link.group(1) if link else None

    accept = await eventually(caught, lambda link: link is not None, wait=60)
    assert accept is not None
    async with httpx.AsyncClient(timeout=10) as person:  # keeps the CSRF cookie
        assert (await person.get(accept)).status_code == 200  # a mail scanner's prefetch
        page = await person.get(accept)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None, page.text
        done = await person.post(accept, data={"csrf": csrf.group(1)})
        assert done.status_code == 200, done.text
    await eventually(lambda: timeline(http, intake, request_id, reader), accepted, wait=60)
    return accept.rsplit("/answer/", 1)[1]
