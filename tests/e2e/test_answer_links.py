"""End to end (brief §7.4): the three services as processes and a real SMTP server. The lead
partner's offer e-mail carries an Accept link; following it changes nothing until the person
confirms; then the request's timeline shows the acceptance and the matcher holds it accepted."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from uuid import UUID

import asyncpg
import httpx
import pytest

from tests.e2e.offer_mail import (
    accepted,
    api_key,
    lead_contact,
    notifier_mailing,
    offer_by_mail,
    responses,
    timeline,
)
from tests.e2e.test_walking_skeleton import LEAD
from tests.intake.events import eventually
from tests.notifier.helpers import SmtpSink
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e


@pytest.fixture
def mail(services: Services, idle_partners: None) -> Iterator[SmtpSink]:
    with notifier_mailing(services) as sink:
        yield sink


async def test_an_offer_is_accepted_from_its_e_mail_link_after_a_harmless_prefetch(
    services: Services, mail: SmtpSink, pool: asyncpg.Pool, unique: str
) -> None:
    intake, notifier = services.url("intake"), services.url("notifier")
    operator = await api_key(pool, "operator", f"links-op-{unique}")
    submitter = await api_key(pool, "submitter", f"links-{unique}")
    async with httpx.AsyncClient(timeout=10) as http, lead_contact(http, notifier, operator):
        offered = await offer_by_mail(http, mail, intake, submitter, f"links-{unique}")
        accept, request_id = offered.accept, offered.request_id
        before = await timeline(http, intake, request_id, submitter)
        for _ in range(2):  # a mail scanner's prefetch, a link preview: nothing may change
            async with httpx.AsyncClient(timeout=10) as scanner:
                assert (await scanner.get(accept)).status_code == 200
        await asyncio.sleep(1.0)
        after_prefetch = await timeline(http, intake, request_id, submitter)
        assert after_prefetch[: len(before)] == before
        assert not responses(after_prefetch)

        async with httpx.AsyncClient(timeout=10) as person:  # keeps the CSRF cookie
            page = await person.get(accept)
            assert page.status_code == 200 and "PCB inventory support" in page.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            done = await person.post(accept, data={"csrf": csrf.group(1)})
            assert done.status_code == 200, done.text
            again = await person.post(accept, data={"csrf": csrf.group(1)})
            assert again.status_code == 409

        entries = await eventually(
            lambda: timeline(http, intake, request_id, submitter), accepted, wait=60
        )
    answers = responses(entries)
    assert len(answers) == 1 and answers[0]["partner_id"] == LEAD
    assert "accept" in str(answers[0]["summary"])
    status = await pool.fetchval(
        "SELECT status FROM matcher.assignments WHERE request_id = $1 AND partner_id = $2",
        UUID(request_id),
        LEAD,
    )
    assert status == "accepted"
