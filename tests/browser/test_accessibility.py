"""In Chromium, on the real stack: every page people use passes axe-core's WCAG 2.0 / 2.1 A and
AA rules (labels, names, landmarks, contrast, language, ids...) in English, French and Spanish;
and an operator changes a partner's capacity with the keyboard alone, always seeing where the
focus is.

axe (tests/browser/vendor/axe.min.js, pinned by deploy/local/vendor_assets.py) is read from disk
and injected into each page: nothing is fetched while the tests run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from deploy.local.stack import StackSettings, answer_link_secret
from services.intake.pages.texts import Language
from shared import answer_links, sign_in_links, topics
from shared.answer_links import AnswerLink, LinkDecision
from shared.auth import create_key
from shared.kafka_access import KafkaAccess
from shared.sign_in_links import SignInLink
from tests.browser.conftest import SCREEN, TIMEOUT_MS
from tests.browser.keyboard import assert_focus_shows, tab, tab_to
from tests.browser.pages import sign_in
from tests.browser.test_console import _add_quiet_partner, _dead_letters, _produce
from tests.e2e.offer_mail import api_key, lead_contact, notifier_mailing, offer_by_mail
from tests.e2e.test_walking_skeleton import LEAD
from tests.intake.events import eventually
from tests.stack_helpers import Services

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LOCALES: dict[Language, str] = {"en": "en-GB", "fr": "fr-FR", "es": "es-ES"}
Area = Literal["console", "portal"]


@dataclass(frozen=True)
class Scene:
    """What the pages show: an open offer to the lead partner (mailed, so notifier has a
    delivery), a dead-lettered record, and keys to sign in with."""

    intake: str
    operator: str
    partner: str
    request_id: str
    assignment_id: UUID
    respond_by: datetime
    secret: str


@dataclass(frozen=True)
class Visit:
    path: str
    area: Area | None = None  # signed in there first


def _answer(scene: Scene, decision: LinkDecision) -> Visit:
    link = AnswerLink(scene.assignment_id, LEAD, decision, scene.respond_by)
    return Visit(f"/answer/{answer_links.sign(link, scene.secret)}")


def _sign_in_link(scene: Scene) -> Visit:
    expires = datetime.now(UTC) + timedelta(hours=1)
    link = SignInLink(LEAD, uuid4(), uuid4().hex, expires)
    return Visit(f"/portal/sign-in/link/{sign_in_links.sign(link, scene.secret)}")


PAGES: dict[str, Callable[[Scene], Visit]] = {
    "portal-sign-in": lambda _: Visit("/portal/sign-in"),
    "portal-sign-in-link": _sign_in_link,
    "console-sign-in": lambda _: Visit("/console/sign-in"),
    "console-overview": lambda _: Visit("/console/", "console"),
    "console-requests": lambda _: Visit("/console/requests", "console"),
    "console-timeline": lambda s: Visit(f"/console/requests/{s.request_id}", "console"),
    "console-partners": lambda _: Visit("/console/partners", "console"),
    "console-deliveries": lambda _: Visit("/console/deliveries", "console"),
    "console-dead-letters": lambda _: Visit("/console/dead-letters", "console"),
    "portal": lambda _: Visit("/portal/", "portal"),
    "answer-accept": lambda s: _answer(s, "accept"),
    "answer-decline": lambda s: _answer(s, "decline"),
    "answer-bad-link": lambda _: Visit("/answer/not-a-link-of-ours"),
}


@pytest.fixture(scope="module")
async def scene(
    services: Services, infra: StackSettings, pool: asyncpg.Pool, kafka: KafkaAccess
) -> AsyncIterator[Scene]:
    """Made once for the module: every page of it only reads."""
    intake = services.url("intake")
    operator = await api_key(pool, "operator", f"a11y-op-{uuid4().hex[:12]}")
    request_id = await _offered_by_mail(services, pool, operator)
    services.ensure()  # notifier again, with its default settings: the console reads from it
    assignment = await eventually(
        lambda: _open_offer(pool, request_id), lambda row: row is not None, wait=60
    )
    assert assignment is not None
    await _dead_lettered(kafka, intake, operator)
    async with pool.acquire() as conn:
        _, partner = await create_key(conn, role="partner", name="a11y-lead", partner_id=LEAD)
    yield Scene(
        intake,
        operator["X-API-Key"],
        partner,
        request_id,
        assignment["assignment_id"],
        assignment["respond_by"],
        answer_link_secret(infra),
    )


async def _offered_by_mail(services: Services, pool: asyncpg.Pool, operator: dict[str, str]) -> str:
    """A request offered to the lead partner, whose offer e-mail makes a delivery to list."""
    # As the idle_partners fixture (function-scoped, so not usable here): the lead has room.
    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")
    submitter = await api_key(pool, "submitter", f"a11y-{uuid4().hex[:12]}")
    with notifier_mailing(services) as mail:
        intake, notifier = services.url("intake"), services.url("notifier")
        async with httpx.AsyncClient(timeout=10) as http, lead_contact(http, notifier, operator):
            offered = await offer_by_mail(http, mail, intake, submitter, f"a11y-{uuid4().hex}")
    return offered.request_id


async def _open_offer(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record | None:
    """The lead's offer as intake knows it (from Kafka, so it may come after the e-mail)."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT assignment_id, respond_by FROM intake.assignments "
        "WHERE request_id = $1 AND partner_id = $2 AND status = 'offered'",
        UUID(request_id),
        LEAD,
    )
    return row


async def _dead_lettered(kafka: KafkaAccess, intake: str, operator: dict[str, str]) -> None:
    """A record matcher cannot read, dead-lettered: the dead-letter page has a row to replay."""
    marker = f"a11y-unreadable-{uuid4().hex[:12]}"
    await _produce(kafka, topics.ASSIGNMENT_RESPONSES, marker)
    async with httpx.AsyncClient(timeout=10, headers=operator) as http:
        await eventually(
            lambda: _dead_letters(http, intake, marker), lambda found: len(found) == 1, wait=60
        )


# Colours, landmarks and forms are the same in every language; the words are not (longer labels,
# `lang`, translated names): every page in English, those with the most words and forms in all.
IN_EVERY_LANGUAGE = (
    "portal-sign-in",
    "console-overview",
    "console-partners",
    "portal",
    "answer-accept",
)
CASES: list[tuple[str, Language]] = [(name, "en") for name in PAGES]
CASES += [(name, lang) for lang in ("fr", "es") for name in IN_EVERY_LANGUAGE]


@pytest.mark.parametrize(("name", "lang"), CASES, ids=[f"{name}-{lang}" for name, lang in CASES])
async def test_each_page_passes_axe_wcag_a_and_aa_rules(
    browser: Browser, scene: Scene, name: str, lang: Language
) -> None:
    # The pages' CSP (script-src 'self') rightly refuses the inline <script> that
    # add_script_tag writes; bypass_csp lifts it in this test's own browser context only, to
    # inject axe. intake still sends the header (checked below): nothing is loosened for people.
    context = await browser.new_context(locale=LOCALES[lang], viewport=SCREEN, bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        visit = PAGES[name](scene)
        if visit.area is not None:
            key = scene.operator if visit.area == "console" else scene.partner
            await sign_in(page, scene.intake, visit.area, key, lang=lang)
        shown = await page.goto(scene.intake + visit.path)
        assert shown is not None
        assert "script-src 'self'" in (await shown.header_value("content-security-policy") or "")
        assert await page.get_attribute("html", "lang") == lang
        violations = await _axe_violations(page)
    finally:
        await context.close()
    assert not violations, f"{name} ({lang}): axe found\n" + "\n".join(map(_said, violations))


async def _axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's violations, and the text whose contrast it could not decide (say, text spilling over
    another cell): contrast not known is contrast not checked."""
    await page.add_script_tag(path=AXE)
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
             const results = await axe.run(document, {runOnly: {type: "tag", values: tags}});
             const undecided = results.incomplete.filter((v) => v.id === "color-contrast")
               .map((v) => ({...v, id: "color-contrast (undecided)"}));
             return results.violations.concat(undecided).map((v) => ({
               id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.map((n) => ({target: n.target.join(" "), why: n.failureSummary})),
             }));
           }""",
        WCAG,
    )
    return found


def _said(violation: dict[str, Any]) -> str:
    nodes = "\n".join(f"    {n['target']}: {n['why']}" for n in violation["nodes"])
    return f"  {violation['id']} ({violation['impact']}): {violation['help']}\n{nodes}"


async def test_axe_as_injected_here_reports_what_it_should(page: Page) -> None:
    """The check of the check: on a page made to fail, the same injection and rules find the
    failures (an empty list above means clean pages, not a silent axe)."""
    await page.set_content('<input><p style="color: #bbb">faint</p>')
    found = {violation["id"] for violation in await _axe_violations(page)}
    assert {"html-has-lang", "label", "color-contrast"} <= found, found


async def test_an_operator_changes_a_capacity_with_the_keyboard_alone(
    services: Services, pool: asyncpg.Pool, page: Page, unique: str
) -> None:
    services.ensure()
    intake, matcher = services.url("intake"), services.url("matcher")
    operator = await api_key(pool, "operator", f"keys-{unique}")
    partner_id = f"0a11y-{unique}"  # before every registry id: its row is the first one
    async with httpx.AsyncClient(timeout=10, headers=operator) as http:
        await _add_quiet_partner(http, matcher, partner_id)  # capacity 1, inactive
        await sign_in(page, intake, "console", operator["X-API-Key"])  # Enter in the key field
        await tab_to(page, lambda f: f.tag == "a" and f.text == "Partners")
        await page.keyboard.press("Enter")
        await expect(page.get_by_role("heading", name="Partner registry")).to_be_visible()
        capacity = await tab_to(page, lambda f: f.label == "Capacity")
        assert capacity.row == f"p-{partner_id}", capacity
        await page.keyboard.press("ArrowUp")  # 1 -> 2
        save = await tab_to(page, lambda f: f.tag == "button", limit=3)  # Topics, Active, Save
        assert (save.text, save.row) == ("Save", f"p-{partner_id}"), save
        await page.keyboard.press("Space")
        await expect(page.get_by_role("status")).to_contain_text("Saved")
        await expect(page.locator(f"#p-{partner_id}").get_by_text("0 / 2")).to_be_visible()
        found = (await http.get(f"{matcher}/v1/partners/{partner_id}")).json()
    assert found["capacity"] == 2


async def test_the_skip_link_shows_when_focused_and_leads_past_the_navigation(
    services: Services, pool: asyncpg.Pool, page: Page, unique: str
) -> None:
    services.ensure()
    intake = services.url("intake")
    operator = await api_key(pool, "operator", f"skip-{unique}")
    await sign_in(page, intake, "console", operator["X-API-Key"])
    skip = await tab(page)
    assert skip.text == "Skip to the content", skip
    assert_focus_shows(skip)
    await page.keyboard.press("Enter")
    after = await tab(page)
    assert after.in_main and after.label == "Received in the last days", after
