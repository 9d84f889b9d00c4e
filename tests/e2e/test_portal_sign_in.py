"""End to end (brief §7.4): the three services as processes and a real SMTP server. A partner's
contact asks the portal for a sign-in link with its address (typed in another case, with
spaces); intake sends notifier only the address's digest, notifier e-mails the contact a link;
following it changes nothing until the person confirms; then the portal shows the partner's
page, and the link never works again."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from email.message import EmailMessage

import asyncpg
import httpx
import pytest

from deploy.local import stack
from tests.e2e.offer_mail import api_key, notifier_mailing
from tests.intake.events import eventually
from tests.notifier.helpers import SmtpSink
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def mail(services: Services) -> Iterator[tuple[SmtpSink, stack.StackSettings]]:
    """A real SMTP server, and the services up with notifier sending to it."""
    with notifier_mailing(services) as sink:
        yield sink, services.cfg


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


async def test_a_partner_contact_signs_in_to_the_portal_by_an_e_mailed_link_once(
    mail: tuple[SmtpSink, stack.StackSettings], pool: asyncpg.Pool, unique: str
) -> None:
    sink, cfg = mail
    intake = f"http://127.0.0.1:{cfg.intake_port}"
    notifier = f"http://127.0.0.1:{cfg.notifier_port}"
    partner, address = f"signin-{unique}", f"desk-{unique}@scrc-senegal.example"
    operator = await api_key(pool, "operator", f"signin-op-{unique}")
    async with httpx.AsyncClient(timeout=10) as http:
        contact = await http.post(
            f"{notifier}/v1/partners/{partner}/contacts",
            # It hears of nothing else: the sign-in link comes whatever the filter.
            json={"email": address, "language": "es", "event_types": ["ta.request.matched"]},
            headers=operator,
        )
        assert contact.status_code == 201, contact.text
        try:
            link = await _ask_for_a_link(sink, intake, f"  DESK-{unique}@SCRC-Senegal.example ")
            assert [m["To"] for m in sink.messages if m["To"] == address] == [address]
            await _sign_in_once(intake, link, partner)
        finally:
            contact_id = contact.json()["contact_id"]
            await http.delete(
                f"{notifier}/v1/partners/{partner}/contacts/{contact_id}", headers=operator
            )


async def _ask_for_a_link(sink: SmtpSink, intake: str, typed: str) -> str:
    """Ask twice, as an impatient person would: one e-mail comes (the throttle), with its link."""
    address = typed.strip().lower()
    async with httpx.AsyncClient(timeout=10, headers={"accept-language": "fr"}) as person:
        for _ in range(2):
            form = await person.get(f"{intake}/portal/sign-in")
            assert form.status_code == 200 and person.cookies.get("stax_sign_in")
            asked = await person.post(
                f"{intake}/portal/sign-in/email", data={"csrf": _csrf(form), "email": typed}
            )
            assert asked.status_code == 202, asked.text

    async def caught() -> list[EmailMessage]:
        await asyncio.sleep(0.2)
        return sink.to(address)

    [message] = await eventually(caught, lambda found: len(found) > 0, wait=60)
    await asyncio.sleep(2.0)  # the second request was applied long since: it queued nothing
    assert len(sink.to(address)) == 1
    assert message["Content-Language"] == "es"  # the contact's language, not the page's
    text = message.get_body(("plain",))
    assert text is not None
    found = re.search(r"(http://\S+/portal/sign-in/link/\S+)", text.get_content())
    assert found is not None, text.get_content()
    assert found.group(1).startswith(intake)
    return found.group(1)


async def _sign_in_once(intake: str, link: str, partner: str) -> None:
    async with httpx.AsyncClient(timeout=10) as scanner:  # a mail scanner's prefetch
        assert (await scanner.get(link)).status_code == 200

    async with httpx.AsyncClient(timeout=10) as person:  # keeps its cookies
        assert (await person.get(f"{intake}/portal/")).status_code == 303  # not signed in
        page = await person.get(link)
        assert page.status_code == 200 and partner in page.text
        assert (await person.get(f"{intake}/portal/")).status_code == 303  # the GET did nothing
        signed = await person.post(link, data={"csrf": _csrf(page)})
        assert signed.status_code == 303 and signed.headers["location"] == "/portal/"
        home = await person.get(f"{intake}/portal/")
        assert home.status_code == 200 and partner in home.text

    async with httpx.AsyncClient(timeout=10) as someone:
        again = await someone.get(link)
        reused = await someone.post(link, data={"csrf": _csrf(again)})
        assert reused.status_code == 409
        assert (await someone.get(f"{intake}/portal/")).status_code == 303
