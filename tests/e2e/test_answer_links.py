"""End to end (brief §7.4): the three services as processes and a real SMTP server. The lead
partner's offer e-mail carries an Accept link; following it changes nothing until the person
confirms; then the request's timeline shows the acceptance and the matcher holds it accepted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from deploy.local import stack
from shared.auth import create_key
from tests.e2e.test_walking_skeleton import LEAD, _submission
from tests.intake.events import eventually
from tests.notifier.helpers import SmtpSink, smtp_server
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

CONTACT = "offers@scrc-senegal.example"


@pytest.fixture
def mail(services: Services, idle_partners: None) -> Iterator[tuple[SmtpSink, stack.StackSettings]]:
    """A real SMTP server, and the services up with notifier sending to it."""
    with smtp_server() as (sink, port):
        services.ensure()
        services.restart("notifier", env={"STAX_NOTIFIER_SMTP_PORT": str(port)})
        try:
            yield sink, services.cfg
        finally:
            services.stop("notifier")  # the next test gets the default notifier


async def _key(pool: asyncpg.Pool, role: str, name: str) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role=role, name=name)  # type: ignore[arg-type]
    return {"X-API-Key": key}


def _offer_mail(sink: SmtpSink, request_id: str) -> EmailMessage | None:
    for message in sink.to(CONTACT):
        text = message.get_body(("plain",))
        if text is not None and request_id in text.get_content():
            return message
    return None


async def test_an_offer_is_accepted_from_its_e_mail_link_after_a_harmless_prefetch(
    mail: tuple[SmtpSink, stack.StackSettings], pool: asyncpg.Pool, unique: str
) -> None:
    sink, cfg = mail
    intake = f"http://127.0.0.1:{cfg.intake_port}"
    notifier = f"http://127.0.0.1:{cfg.notifier_port}"
    operator = await _key(pool, "operator", f"links-op-{unique}")
    submitter = await _key(pool, "submitter", f"links-{unique}")
    async with httpx.AsyncClient(timeout=10) as http:
        contact = await http.post(
            f"{notifier}/v1/partners/{LEAD}/contacts",
            json={"email": CONTACT, "language": "en", "event_types": ["ta.assignment.offered"]},
            headers=operator,
        )
        assert contact.status_code == 201, contact.text
        try:
            await _accept_by_link(http, sink, pool, intake, submitter, unique)
        finally:
            contact_id = contact.json()["contact_id"]
            await http.delete(
                f"{notifier}/v1/partners/{LEAD}/contacts/{contact_id}", headers=operator
            )


async def _accept_by_link(
    http: httpx.AsyncClient,
    sink: SmtpSink,
    pool: asyncpg.Pool,
    intake: str,
    submitter: dict[str, str],
    unique: str,
) -> None:
    made = await http.post(
        f"{intake}/v1/requests", json=_submission(f"links-{unique}"), headers=submitter
    )
    assert made.status_code == 202, made.text
    request_id = made.json()["request_id"]

    async def caught() -> EmailMessage | None:
        await asyncio.sleep(0.2)
        return _offer_mail(sink, request_id)

    offer_mail = await eventually(caught, lambda m: m is not None, wait=60)
    assert offer_mail is not None, [m["Subject"] for m in sink.messages]
    text = offer_mail.get_body(("plain",))
    assert text is not None
    found = re.search(r"Accept: (http://\S+/answer/\S+)", text.get_content())
    assert found is not None, text.get_content()
    accept = found.group(1)
    assert accept.startswith(intake)

    async def timeline() -> list[dict[str, Any]]:
        got = await http.get(f"{intake}/v1/requests/{request_id}", headers=submitter)
        entries: list[dict[str, Any]] = got.json()["timeline"]
        return entries

    before = await timeline()
    for _ in range(2):  # a mail scanner's prefetch, a link preview: nothing may change
        async with httpx.AsyncClient(timeout=10) as scanner:
            assert (await scanner.get(accept)).status_code == 200
    await asyncio.sleep(1.0)
    after_prefetch = await timeline()
    assert after_prefetch[: len(before)] == before
    assert not [e for e in after_prefetch if "ta.assignment.response" in e["event"]]

    async with httpx.AsyncClient(timeout=10) as person:  # keeps the CSRF cookie
        page = await person.get(accept)
        assert page.status_code == 200 and "PCB inventory support" in page.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        done = await person.post(accept, data={"csrf": csrf.group(1)})
        assert done.status_code == 200, done.text
        again = await person.post(accept, data={"csrf": csrf.group(1)})
        assert again.status_code == 409

    accepted = await eventually(
        timeline, lambda t: any(e["event"] == "ta.assignment.accepted" for e in t), wait=60
    )
    responses = [e for e in accepted if e["event"] == "ta.assignment.response"]
    assert len(responses) == 1 and responses[0]["partner_id"] == LEAD
    assert "accept" in responses[0]["summary"]
    status = await pool.fetchval(
        "SELECT status FROM matcher.assignments WHERE request_id = $1 AND partner_id = $2",
        UUID(request_id),
        LEAD,
    )
    assert status == "accepted"
