"""In Chromium: the lead partner opens its offer e-mail's Accept link, reads the offer and
confirms it. A mail scanner's plain GET of the same link before changes nothing; the click does,
and the request's timeline shows the acceptance. The three services run as processes and the
notifier sends to a real SMTP server (tests/e2e/offer_mail.py, shared with the HTTP-level test).

STAX_SCREENSHOTS=1 writes the pages' screenshots to docs/screenshots (the committed ones);
otherwise they go to the test's tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from shared.auth import create_key
from tests.browser.pages import sign_in
from tests.e2e.offer_mail import (
    Offered,
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

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def mail(services: Services, idle_partners: None) -> Iterator[SmtpSink]:
    with notifier_mailing(services) as sink:
        yield sink


async def test_a_partner_accepts_an_offer_in_the_browser_after_a_harmless_prefetch(
    services: Services, mail: SmtpSink, pool: asyncpg.Pool, page: Page, shots: Path, unique: str
) -> None:
    intake, notifier = services.url("intake"), services.url("notifier")
    operator = await api_key(pool, "operator", f"browser-op-{unique}")
    submitter = await api_key(pool, "submitter", f"browser-{unique}")
    async with httpx.AsyncClient(timeout=10) as http, lead_contact(http, notifier, operator):
        offered = await offer_by_mail(http, mail, intake, submitter, f"browser-{unique}")
        await _prefetch_changes_nothing(http, pool, intake, offered, operator)
        await _accept_in_the_browser(page, offered.accept, shots)
        entries = await eventually(
            lambda: timeline(http, intake, offered.request_id, operator), accepted, wait=60
        )
    assert [answer["partner_id"] for answer in responses(entries)] == [LEAD]
    assert await _matcher_status(pool, offered.request_id) == "accepted"
    await _timeline_in_the_console(page, intake, operator["X-API-Key"], offered, shots)
    await _work_in_the_portal(page, pool, intake, offered, shots, unique)


async def _timeline_in_the_console(
    page: Page, intake: str, operator: str, offered: Offered, shots: Path
) -> None:
    """The operator's view of the same request: its timeline ends with the acceptance."""
    await page.set_viewport_size({"width": 1280, "height": 800})
    await sign_in(page, intake, "console", operator)
    await page.goto(f"{intake}/console/requests/{offered.request_id}")
    await expect(page.get_by_role("heading", name="Request timeline")).to_be_visible()
    accepted_row = page.get_by_role("row").filter(has_text="ta.assignment.accepted")
    await expect(accepted_row).to_contain_text(LEAD)
    await page.screenshot(path=shots / "console-timeline.png", full_page=True)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()


async def _work_in_the_portal(
    page: Page, pool: asyncpg.Pool, intake: str, offered: Offered, shots: Path, unique: str
) -> None:
    """The lead partner's portal: the accepted offer is now work in hand, to start or complete."""
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role="partner", name=f"portal-{unique}", partner_id=LEAD)
    await sign_in(page, intake, "portal", key, shot=shots / "portal-sign-in.png")
    row = page.get_by_role("row").filter(has_text=offered.request_id)
    await expect(row).to_contain_text("accepted")
    await expect(row.get_by_role("button", name="Start")).to_be_visible()
    await page.screenshot(path=shots / "portal.png", full_page=False)


async def _prefetch_changes_nothing(
    http: httpx.AsyncClient,
    pool: asyncpg.Pool,
    intake: str,
    offered: Offered,
    operator: dict[str, str],
) -> None:
    """A mail scanner's GET: no cookies kept, no form sent. No wait is needed after it: a GET
    that answered would have recorded the answer in intake's own transaction, before replying."""
    before = await timeline(http, intake, offered.request_id, operator)
    async with httpx.AsyncClient(timeout=10) as scanner:
        fetched = await scanner.get(offered.accept)
    assert fetched.status_code == 200 and "Confirm accept" in fetched.text
    after = await timeline(http, intake, offered.request_id, operator)
    assert after[: len(before)] == before
    assert not responses(after)
    assert await _matcher_status(pool, offered.request_id) == "offered"


async def _accept_in_the_browser(page: Page, accept: str, shots: Path) -> None:
    shown = await page.goto(accept)
    assert shown is not None and shown.status == 200
    await expect(page.get_by_role("heading", name="Accept this offer?")).to_be_visible()
    await expect(page.get_by_text("PCB inventory support")).to_be_visible()
    await page.screenshot(path=shots / "answer-offer.png", full_page=True)

    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name="Confirm accept").click()
    assert (await posted.value).status == 200
    await expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    await expect(page.get_by_text("Your acceptance is recorded.")).to_be_visible()
    await page.screenshot(path=shots / "answer-done.png", full_page=True)


async def _matcher_status(pool: asyncpg.Pool, request_id: str) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM matcher.assignments WHERE request_id = $1 AND partner_id = $2",
        UUID(request_id),
        LEAD,
    )
    return status
