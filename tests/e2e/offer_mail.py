"""The steps before an offer e-mail's Accept link is followed, shared by the end-to-end test of
answer links (over HTTP) and the browser test (in Chromium): a real SMTP server the notifier
sends to, the lead partner's e-mail contact, a request submitted and its offer e-mail caught."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx

from shared.auth import create_key
from tests.e2e.test_walking_skeleton import LEAD, _submission
from tests.intake.events import eventually
from tests.notifier.helpers import SmtpSink, smtp_server
from tests.stack_helpers import Services

CONTACT = "offers@scrc-senegal.example"


@contextmanager
def notifier_mailing(services: Services) -> Iterator[SmtpSink]:
    """A real SMTP server, and the services up with notifier sending to it."""
    with smtp_server() as (sink, port):
        services.configure("notifier", env={"STAX_NOTIFIER_SMTP_PORT": str(port)})
        services.ensure()
        try:
            yield sink
        finally:
            services.stop("notifier")  # the next test gets the default notifier


async def api_key(pool: asyncpg.Pool, role: str, name: str) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role=role, name=name)  # type: ignore[arg-type]
    return {"X-API-Key": key}


@asynccontextmanager
async def lead_contact(
    http: httpx.AsyncClient, notifier: str, operator: dict[str, str]
) -> AsyncIterator[None]:
    """The lead partner's offers go by e-mail to CONTACT while inside; removed after, so other
    tests' offers to the lead are not mailed."""
    contact = await http.post(
        f"{notifier}/v1/partners/{LEAD}/contacts",
        json={"email": CONTACT, "language": "en", "event_types": ["ta.assignment.offered"]},
        headers=operator,
    )
    assert contact.status_code == 201, contact.text
    try:
        yield
    finally:
        contact_id = contact.json()["contact_id"]
        await http.delete(f"{notifier}/v1/partners/{LEAD}/contacts/{contact_id}", headers=operator)


@dataclass(frozen=True)
class Offered:
    """A request submitted, and the Accept link of the offer e-mail its lead partner got."""

    request_id: str
    accept: str


async def offer_by_mail(
    http: httpx.AsyncClient, sink: SmtpSink, intake: str, submitter: dict[str, str], ref: str
) -> Offered:
    made = await http.post(f"{intake}/v1/requests", json=_submission(ref), headers=submitter)
    assert made.status_code == 202, made.text
    request_id: str = made.json()["request_id"]

    async def caught() -> EmailMessage | None:
        await asyncio.sleep(0.2)
        return offer_mail(sink, request_id)

    mail = await eventually(caught, lambda m: m is not None, wait=60)
    assert mail is not None, [m["Subject"] for m in sink.messages]
    text = mail.get_body(("plain",))
    assert text is not None
    found = re.search(r"Accept: (http://\S+/answer/\S+)", text.get_content())
    assert found is not None, text.get_content()
    assert found.group(1).startswith(intake)
    return Offered(request_id, found.group(1))


def offer_mail(sink: SmtpSink, request_id: str) -> EmailMessage | None:
    for message in sink.to(CONTACT):
        text = message.get_body(("plain",))
        if text is not None and request_id in text.get_content():
            return message
    return None


async def timeline(
    http: httpx.AsyncClient, intake: str, request_id: str, reader: dict[str, str]
) -> list[dict[str, Any]]:
    got = await http.get(f"{intake}/v1/requests/{request_id}", headers=reader)
    assert got.status_code == 200, got.text
    entries: list[dict[str, Any]] = got.json()["timeline"]
    return entries


def responses(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline's partner answers (accept or decline), as intake recorded them."""
    return [e for e in entries if e["event"] == "ta.assignment.response"]


def accepted(entries: list[dict[str, Any]]) -> bool:
    """The matcher's acceptance has come back to intake."""
    return any(e["event"] == "ta.assignment.accepted" for e in entries)
