"""The pages an offer e-mail's Accept / Decline links open (in memory: the fake unit of work
behind the real routes). A GET changes nothing; a confirmed POST answers once, as the API does;
every failure is an HTML page with its status."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.intake.handlers import answers
from services.intake.pages import answer_links as pages
from services.intake.pages.rendering import HEADERS, Pages
from services.intake.pages.texts import TEXTS, choose
from shared import api_gate, topics
from shared.answer_links import AnswerLink, LinkDecision, sign
from shared.doorbell import Arrivals
from shared.events import AssignmentOffered
from shared.http_limits import RateLimit
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore, fake_units
from tests.intake.scenarios import NOW, data_of, offered_in
from tests.unit.test_answer_links import tampered

SECRET = "pages-test-secret"
NO_WAIT = answers.OfferWait(Arrivals("no-listener", capacity=1, per_owner=1), seconds=0)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    client: httpx.AsyncClient
    store: IntakeStore
    clock: Clock
    offers: list[AssignmentOffered] = field(default_factory=list)

    async def offer(self, partner_id: str = "unido") -> AssignmentOffered:
        return await offered_in(self.store, partner_id)

    def responses(self) -> list[dict[str, object]]:
        return [data_of(r) for r in self.store.outbox if r.topic == topics.ASSIGNMENT_RESPONSES]


def url_of(offer: AssignmentOffered, decision: LinkDecision, secret: str = SECRET) -> str:
    link = AnswerLink(offer.assignment_id, offer.partner_id, decision, offer.respond_by)
    return f"/answer/{sign(link, secret)}"


def _app(store: IntakeStore, clock: Clock, secret: str, rate: str = "1000/second") -> FastAPI:
    app = FastAPI()
    app.state.units = fake_units(store)
    app.include_router(
        pages.router(
            secret=secret,
            clock=clock,
            rate_limit=RateLimit(rate),
            pages=Pages(),
            offer_wait=NO_WAIT,  # the fake store has every offer it will ever have
        )
    )
    api_gate.install(app, max_body_bytes=4096, rate_limit="1000/second")
    return app


async def _site(secret: str = SECRET, rate: str = "1000/second") -> AsyncIterator[Site]:
    store, clock = IntakeStore(), Clock()
    transport = httpx.ASGITransport(app=_app(store, clock, secret, rate))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield Site(client, store, clock)


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    async for made in _site():
        yield made


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def confirm(site: Site, url: str, **headers: str) -> httpx.Response:
    """What a person does: open the link, press the button (the client keeps the cookie)."""
    page = await site.client.get(url, headers=headers)
    assert page.status_code == 200, page.text
    return await site.client.post(url, data={"csrf": csrf_of(page)}, headers=headers)


async def test_opening_a_link_shows_the_offer_and_changes_nothing(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    for _ in range(3):  # a mail scanner, a link preview, the person
        page = await site.client.get(url)
        assert page.status_code == 200
    for shown in ("PCB inventory support", "SEN", "PCB", "lead", "2026-12-02 09:30"):
        assert shown in page.text
    assert "UNIDO &lt;Vienna&gt;" in page.text and "<Vienna>" not in page.text
    assert '<button type="submit">Confirm accept</button>' in page.text
    assert '<html lang="en">' in page.text
    assert site.responses() == []
    assert site.store.answers == {} and site.store.used_links == {}


async def test_confirming_answers_once_through_the_api_path(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    done = await confirm(site, url)
    assert done.status_code == 200
    assert "Your acceptance is recorded" in done.text
    assert site.responses() == [
        {
            "assignment_id": str(offer.assignment_id),
            "partner_id": "unido",
            "decision": "accept",
            "reason": "",
            "outcome": "",
            "deliverables": [],
        }
    ]
    notes = [n.entry for n in site.store.timeline.values() if n.request_id == offer.request_id]
    assert any(e.event_type == "ta.assignment.response" and "accept" in e.summary for e in notes)

    again = await site.client.post(url, data={"csrf": site.client.cookies["stax_csrf"]})
    assert again.status_code == 409 and "already been used" in again.text
    reopened = await site.client.get(url)
    assert reopened.status_code == 409
    assert len(site.responses()) == 1


async def test_a_decline_link_declines(site: Site) -> None:
    offer = await site.offer()
    done = await confirm(site, url_of(offer, "decline"))
    assert done.status_code == 200 and "declined" in done.text
    assert [r["decision"] for r in site.responses()] == ["decline"]


async def test_declining_after_accepting_is_a_conflict_page_and_nothing_is_sent(site: Site) -> None:
    offer = await site.offer()
    assert (await confirm(site, url_of(offer, "accept"))).status_code == 200
    decline = url_of(offer, "decline")
    page = await site.client.get(decline)
    assert page.status_code == 409 and "cannot be answered" in page.text
    # Even with a form from earlier, the POST goes the AnswerConflict way.
    posted = await site.client.post(decline, data={"csrf": site.client.cookies["stax_csrf"]})
    assert posted.status_code == 409 and "cannot be answered" in posted.text
    assert [r["decision"] for r in site.responses()] == ["accept"]
    assert len(site.store.used_links) == 1  # the decline link stays unused


async def test_the_same_answer_given_by_api_before_is_harmless(site: Site) -> None:
    offer = await site.offer()
    async with FakeIntakeUnitOfWork(site.store) as uow:
        await answers.answer_offer(
            uow,
            assignment_id=offer.assignment_id,
            partner_id="unido",
            decision="accept",
            reason="",
            clock=site.clock,
        )
    done = await confirm(site, url_of(offer, "accept"))
    assert done.status_code == 200 and "already been recorded" in done.text
    assert len(site.responses()) == 1


async def test_an_expired_link_is_a_410_page(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    page = await site.client.get(url)
    site.clock.now = offer.respond_by + timedelta(seconds=1)
    assert (await site.client.get(url)).status_code == 410
    late = await site.client.post(url, data={"csrf": csrf_of(page)})
    assert late.status_code == 410 and "expired" in late.text
    assert site.responses() == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda url: url[:-2] + tampered(url[-2]) + url[-1],
        lambda url: url + "x",
        lambda url: "/answer/" + "A" * 5000,
        lambda url: "/answer/not-a-token",
        lambda url: url + "/../x",
        lambda url: "/answer/%00%ff",
    ],
    ids=["tampered", "longer", "huge", "garbage", "path", "bytes"],
)
async def test_a_tampered_or_garbage_link_is_a_400_page(site: Site, mangle: object) -> None:
    offer = await site.offer()
    assert callable(mangle)
    url = mangle(url_of(offer, "accept"))
    page = await site.client.get(url)
    assert page.status_code == 400, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "This link is not valid" in page.text


async def test_a_link_signed_with_another_secret_is_a_400_page(site: Site) -> None:
    offer = await site.offer()
    assert (await site.client.get(url_of(offer, "accept", secret="other"))).status_code == 400


async def test_a_link_to_an_offer_intake_does_not_know_is_a_404_page(site: Site) -> None:
    link = AnswerLink(uuid4(), "unido", "accept", NOW + timedelta(days=1))
    page = await site.client.get(f"/answer/{sign(link, SECRET)}")
    assert page.status_code == 404 and "Offer not found" in page.text


async def test_a_link_naming_another_partner_is_a_400_page(site: Site) -> None:
    offer = await site.offer()
    link = AnswerLink(offer.assignment_id, "someone-else", "accept", offer.respond_by)
    assert (await site.client.get(f"/answer/{sign(link, SECRET)}")).status_code == 400


@pytest.mark.parametrize(
    "form",
    [None, {}, {"csrf": "wrong"}, {"csrf": "x" * 100}, {"csrf": ["a", "b"]}],
    ids=["no-body", "no-field", "mismatch", "too-long", "twice"],
)
async def test_a_post_without_the_matching_csrf_token_is_refused(
    site: Site, form: dict[str, object] | None
) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    await site.client.get(url)  # the cookie is set
    posted = await site.client.post(url, data=form)
    assert posted.status_code == 403 and "confirm again" in posted.text
    assert site.responses() == [] and site.store.used_links == {}


async def test_a_post_without_the_cookie_is_refused(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    csrf = csrf_of(await site.client.get(url))
    site.client.cookies.clear()
    posted = await site.client.post(url, data={"csrf": csrf})
    assert posted.status_code == 403
    assert site.responses() == []


async def test_the_csrf_cookie_is_httponly_strict_and_secure_over_https(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    plain = (await site.client.get(url)).headers["set-cookie"].lower()
    assert "httponly" in plain and "samesite=strict" in plain and "path=/answer/" in plain
    assert "secure" not in plain
    tls = (await site.client.get(f"https://intake.test{url}")).headers["set-cookie"].lower()
    assert "httponly" in tls and "samesite=strict" in tls and "; secure" in tls


async def test_every_page_carries_the_security_headers(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    for page in (await site.client.get(url), await site.client.get("/answer/bad")):
        for name, value in HEADERS.items():
            assert page.headers[name] == value
        assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("accept_language", "lang", "button"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr", "Confirmer l&#39;acceptation"),
        ("es-ES,es;q=0.9", "es", "Confirmar la aceptación"),
        ("de-DE, es;q=0.2, fr;q=0.5", "fr", "Confirmer l&#39;acceptation"),
        ("de", "en", "Confirm accept"),
    ],
)
async def test_pages_speak_the_browsers_language(
    site: Site, accept_language: str, lang: str, button: str
) -> None:
    offer = await site.offer()
    page = await site.client.get(
        url_of(offer, "accept"), headers={"Accept-Language": accept_language}
    )
    assert f'<html lang="{lang}">' in page.text and page.headers["content-language"] == lang
    assert button in page.text
    bad = await site.client.get("/answer/bad", headers={"Accept-Language": accept_language})
    assert bad.headers["content-language"] == lang


def test_every_language_has_every_text_and_odd_headers_fall_back_to_english() -> None:
    assert set(TEXTS["fr"]) == set(TEXTS["en"]) == set(TEXTS["es"])
    for odd in (None, "", "*", "fr;q=abc", "es;q=7", ",,,;", "x" * 10_000):
        assert choose(odd) == "en"


async def test_the_form_is_accessible_without_javascript(site: Site) -> None:
    offer = await site.offer()
    page = (await site.client.get(url_of(offer, "decline"))).text
    assert "<script" not in page
    assert (
        '<form method="post"' in page and '<button type="submit">Confirm decline</button>' in page
    )
    assert "<dl>" in page and "<dt>Party</dt>" in page


async def test_with_no_secret_links_are_off() -> None:
    async for site in _site(secret=""):
        offer = await site.offer()
        page = await site.client.get(url_of(offer, "accept"))
        assert page.status_code == 404 and "Answer links are off" in page.text
        assert (await site.client.post(url_of(offer, "accept"))).status_code == 404
        assert site.responses() == []


async def test_each_client_address_has_a_budget_of_attempts() -> None:
    async for site in _site(rate="3/minute"):
        statuses = [(await site.client.get("/answer/bad")).status_code for _ in range(5)]
        assert statuses == [400, 400, 400, 429, 429]
        busy = await site.client.get("/answer/bad")
        assert "Too many attempts" in busy.text and int(busy.headers["retry-after"]) >= 1


async def test_an_oversized_body_is_refused_before_anything_is_read(site: Site) -> None:
    offer = await site.offer()
    url = url_of(offer, "accept")
    await site.client.get(url)
    posted = await site.client.post(url, content=b"csrf=" + b"a" * 10_000)
    assert posted.status_code == 413
    assert site.responses() == []
