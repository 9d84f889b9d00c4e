"""The partner portal and the operator console, in memory: the real routes and templates over
the fake unit of work; matcher's and notifier's APIs answered by a recording stand-in behind a
real httpx client. The browser tests (tests/browser) run the same pages on the real stack."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from fastapi import FastAPI

from services.intake.adapters.service_apis import ServiceApis
from services.intake.pages import console, portal, sign_in
from services.intake.pages.guard import Guard
from services.intake.pages.rendering import Pages
from services.intake.pages.sessions import COOKIE, Area, Sessions
from shared import api_gate, sign_in_links, topics
from shared.auth import Principal
from shared.events import AssignmentOffered
from shared.http_limits import RateLimit
from shared.sign_in_links import SignInLink
from tests.intake.dead_letters import FakeDeadLetterTopic, dead_lettered, hand_made, original
from tests.intake.fakes import IntakeStore, fake_units
from tests.intake.scenarios import NOW, accepted, data_of, offered_in

SECRET = "people-pages-secret"
PARTNER_KEY = "stax_partnerkey"
OPERATOR_KEY = "stax_operatorkey"
SUBMITTER_KEY = "stax_submitterkey"


@dataclass
class Services:
    """matcher's and notifier's APIs as far as the console uses them; records every call."""

    calls: list[httpx.Request] = field(default_factory=list)
    partners: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        path = request.url.path
        if path == "/v1/partners":
            return httpx.Response(200, json={"partners": self.partners})
        if request.method == "PATCH" and path.startswith("/v1/partners/"):
            patch = json.loads(request.content)
            if patch["capacity"] > 1000:
                error = {"field": "capacity", "code": "too_big", "message": "at most 1000"}
                return httpx.Response(422, json={"errors": [error]})
            return httpx.Response(200, json={**self.partners[0], **patch})
        if path == "/v1/deliveries":
            return httpx.Response(200, json=[DELIVERY])
        if path.endswith("/resend"):
            return httpx.Response(202, json={"status": "pending"})
        return httpx.Response(404, json={"errors": []})


DELIVERY = {
    "delivery_id": str(uuid4()),
    "event_type": "ta.assignment.offered",
    "channel": "webhook",
    "partner_id": "unido",
    "request_id": None,
    "status": "failed",
    "attempts": 8,
    "last_error": "HTTP 503",
    "created_at": "2026-11-30T10:00:00+00:00",
}
PARTNER = {
    "partner_id": "unido",
    "name": "UNIDO",
    "kind": "igo",
    "capacity": 3,
    "open_assignments": 1,
    "topics": ["PCB", "POPS_WASTE"],
    "active": True,
}


@dataclass
class Site:
    client: httpx.AsyncClient
    store: IntakeStore
    services: Services
    keys: dict[str, Principal]
    dead_letters: FakeDeadLetterTopic


def _app(
    store: IntakeStore,
    services: Services,
    keys: dict[str, Principal],
    dead_letters: FakeDeadLetterTopic,
) -> FastAPI:
    async def authenticate(key: str) -> Principal | None:
        return keys.get(key)

    app = FastAPI()
    app.state.units = fake_units(store)
    app.state.dead_letters = dead_letters
    pages, rate_limit = Pages(), RateLimit("1000/second")
    sessions = Sessions(SECRET, authenticate)

    def guard(area: Area) -> Guard:
        return Guard(area, sessions=sessions, pages=pages, rate_limit=rate_limit)

    http = httpx.AsyncClient(transport=httpx.MockTransport(services))
    apis = ServiceApis(http, matcher_url="http://matcher", notifier_url="http://notifier")
    app.include_router(
        sign_in.router(
            sessions=sessions, pages=pages, rate_limit=rate_limit, secret=SECRET, clock=lambda: NOW
        )
    )
    app.include_router(portal.router(guard=guard("portal"), clock=lambda: NOW))
    app.include_router(console.router(guard=guard("console"), clock=lambda: NOW, apis=apis))
    api_gate.install(app, max_body_bytes=8192, rate_limit="1000/second")
    return app


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    store, services = IntakeStore(), Services(partners=[PARTNER])
    keys = {
        PARTNER_KEY: Principal("k1", "partner", "UNIDO desk", "unido"),
        OPERATOR_KEY: Principal("k2", "operator", "Secretariat", None),
        SUBMITTER_KEY: Principal("k3", "submitter", "Kenya", None, "kenya"),
    }
    dead_letters = FakeDeadLetterTopic()
    transport = httpx.ASGITransport(app=_app(store, services, keys, dead_letters))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield Site(client, store, services, keys, dead_letters)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def signed_in(site: Site, area: str, key: str) -> httpx.Response:
    form = await site.client.get(f"/{area}/sign-in")
    assert form.status_code == 200
    return await site.client.post(f"/{area}/sign-in", data={"csrf": csrf_of(form), "key": key})


async def offered(site: Site, partner_id: str = "unido") -> AssignmentOffered:
    return await offered_in(site.store, partner_id, partner_name="UNIDO")


def responses(site: Site) -> list[dict[str, Any]]:
    return [data_of(r) for r in site.store.outbox if r.topic == topics.ASSIGNMENT_RESPONSES]


@pytest.mark.parametrize("page", ["/portal/", "/console/", "/console/partners"])
async def test_a_page_without_a_session_asks_to_sign_in(site: Site, page: str) -> None:
    answer = await site.client.get(page)
    assert answer.status_code == 303
    assert answer.headers["location"].endswith("/sign-in")


async def test_signing_in_sets_an_http_only_lax_session_cookie(site: Site) -> None:
    done = await signed_in(site, "portal", PARTNER_KEY)
    assert done.status_code == 303 and done.headers["location"] == "/portal/"
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # served over plain HTTP here; over TLS it is Secure
    assert PARTNER_KEY not in cookie  # encrypted, not only signed


@pytest.mark.parametrize(
    ("area", "key"),
    [
        ("portal", OPERATOR_KEY),
        ("console", PARTNER_KEY),
        ("console", SUBMITTER_KEY),
        ("console", "stax_unknown"),
    ],
)
async def test_a_key_of_another_role_or_none_signs_nobody_in(
    site: Site, area: str, key: str
) -> None:
    refused = await signed_in(site, area, key)
    assert refused.status_code == 401
    assert COOKIE not in refused.headers.get("set-cookie", "")
    assert (await site.client.get(f"/{area}/")).status_code == 303


async def test_sign_in_without_the_forms_cookie_is_refused_login_csrf(site: Site) -> None:
    form = await site.client.get("/console/sign-in")
    site.client.cookies.clear()  # a form posted from another site carries no sign-in cookie
    refused = await site.client.post(
        "/console/sign-in", data={"csrf": csrf_of(form), "key": OPERATOR_KEY}
    )
    assert refused.status_code == 403
    assert (await site.client.get("/console/")).status_code == 303


async def test_a_partner_accepts_an_offer_in_the_portal_as_the_api_would(site: Site) -> None:
    offer = await offered(site)
    await offered(site, partner_id="undp")  # another partner's offer is not listed
    await signed_in(site, "portal", PARTNER_KEY)
    home = await site.client.get("/portal/")
    assert home.status_code == 200
    assert str(offer.request_id) in home.text and home.text.count("Accept</button>") == 1
    action = f"/portal/assignments/{offer.assignment_id}/accept"
    done = await site.client.post(action, data={"csrf": csrf_of(home)})
    assert done.status_code == 303 and done.headers["location"] == "/portal/?said=accept"
    again = await site.client.post(action, data={"csrf": csrf_of(home)})
    assert again.status_code == 303  # the same answer twice is harmless
    [response] = responses(site)
    assert response["decision"] == "accept" and response["partner_id"] == "unido"
    contradiction = await site.client.post(
        f"/portal/assignments/{offer.assignment_id}/decline", data={"csrf": csrf_of(home)}
    )
    assert contradiction.status_code == 409
    assert len(responses(site)) == 1


async def test_a_portal_form_without_the_session_csrf_token_changes_nothing(site: Site) -> None:
    offer = await offered(site)
    await signed_in(site, "portal", PARTNER_KEY)
    action = f"/portal/assignments/{offer.assignment_id}/accept"
    assert (await site.client.post(action, data={"csrf": "forged"})).status_code == 403
    assert (await site.client.post(action, data={})).status_code == 403
    assert responses(site) == []


async def test_another_partners_offer_is_not_found_in_the_portal(site: Site) -> None:
    theirs = await offered(site, partner_id="undp")
    await signed_in(site, "portal", PARTNER_KEY)
    home = await site.client.get("/portal/")
    answer = await site.client.post(
        f"/portal/assignments/{theirs.assignment_id}/accept", data={"csrf": csrf_of(home)}
    )
    assert answer.status_code == 404
    assert responses(site) == []


async def test_completing_needs_an_outcome_checked_like_the_api(site: Site) -> None:
    offer = await offered(site)
    await signed_in(site, "portal", PARTNER_KEY)
    home = await site.client.get("/portal/")
    answer = await site.client.post(
        f"/portal/assignments/{offer.assignment_id}/complete",
        data={"csrf": csrf_of(home), "outcome": "", "deliverables": "not a url"},
    )
    assert answer.status_code == 422
    assert "outcome" in answer.text
    assert responses(site) == []


async def test_a_tampered_cookie_or_a_revoked_key_ends_the_session(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    assert (await site.client.get("/console/")).status_code == 200
    del site.keys[OPERATOR_KEY]  # revoked: the authenticator no longer knows it
    assert (await site.client.get("/console/")).status_code == 303
    site.keys[OPERATOR_KEY] = Principal("k2", "operator", "Secretariat", None)
    cookie = site.client.cookies[COOKIE]
    site.client.cookies.set(COOKIE, cookie[:-4] + ("AAAA" if cookie[-4:] != "AAAA" else "BBBB"))
    assert (await site.client.get("/console/")).status_code == 303


async def test_the_console_overview_counts_requests_and_charts_the_first_offer(site: Site) -> None:
    await offered(site)
    await accepted(site.store, ref="never-offered")
    await signed_in(site, "console", OPERATOR_KEY)
    home = await site.client.get("/console/")
    assert home.status_code == 200
    chart = re.search(r'id="first-offer-data">([^<]+)</script>', home.text)
    assert chart is not None
    figures = json.loads(chart.group(1))
    assert sum(figures["counts"]) == 1 and len(figures["labels"]) == len(figures["counts"])
    assert "not offered yet: <strong>1</strong>" in home.text
    assert 'src="/static/chart.umd.min.js"' in home.text


async def test_the_console_shows_a_requests_timeline(site: Site) -> None:
    offer = await offered(site)
    await signed_in(site, "console", OPERATOR_KEY)
    listing = await site.client.get("/console/requests")
    assert str(offer.request_id) in listing.text
    page = await site.client.get(f"/console/requests/{offer.request_id}")
    assert page.status_code == 200
    assert "ta.assignment.offered" in page.text
    assert (await site.client.get(f"/console/requests/{uuid4()}")).status_code == 404


async def test_the_console_edits_a_partner_with_the_operators_own_key(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    listing = await site.client.get("/console/partners")
    assert listing.status_code == 200 and "UNIDO" in listing.text
    saved = await site.client.post(
        "/console/partners/unido",
        data={"csrf": csrf_of(listing), "capacity": "5", "topics": "PCB, DDT", "active": "on"},
    )
    assert saved.status_code == 303
    patch = site.services.calls[-1]
    assert patch.method == "PATCH" and patch.url.path == "/v1/partners/unido"
    assert patch.headers["authorization"] == f"Bearer {OPERATOR_KEY}"
    assert json.loads(patch.content) == {"capacity": 5, "topics": ["PCB", "DDT"], "active": True}


async def test_a_registry_refusal_is_shown_with_the_matchers_reasons(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    listing = await site.client.get("/console/partners")
    refused = await site.client.post(
        "/console/partners/unido",
        data={"csrf": csrf_of(listing), "capacity": "5000", "topics": "PCB"},
    )
    assert refused.status_code == 422 and "at most 1000" in refused.text
    bad = await site.client.post(
        "/console/partners/unido", data={"csrf": csrf_of(listing), "capacity": "x", "topics": ""}
    )
    assert bad.status_code == 422
    assert [c.method for c in site.services.calls] == ["GET", "PATCH"]


async def test_the_console_lists_deliveries_and_resends_one(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    listing = await site.client.get("/console/deliveries?status=failed")
    assert listing.status_code == 200 and "HTTP 503" in listing.text
    assert site.services.calls[-1].url.params["status"] == "failed"
    resent = await site.client.post(
        f"/console/deliveries/{DELIVERY['delivery_id']}/resend", data={"csrf": csrf_of(listing)}
    )
    assert resent.status_code == 303
    assert (
        site.services.calls[-1].url.path
        == f"/v1/deliveries/{UUID(str(DELIVERY['delivery_id']))}/resend"
    )


async def test_every_page_is_in_the_readers_language(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    for lang, word in (("fr", "Demandes par état"), ("es", "Solicitudes por estado")):
        page = await site.client.get("/console/", headers={"accept-language": lang})
        assert word in page.text and f'lang="{lang}"' in page.text


async def test_asking_for_a_sign_in_link_sends_notifier_only_the_addresss_digest(
    site: Site,
) -> None:
    form = await site.client.get("/portal/sign-in")
    asked = await site.client.post(
        "/portal/sign-in/email",
        data={"csrf": csrf_of(form), "email": " Offers@SCRC-Senegal.example "},
        headers={"accept-language": "fr"},
    )
    assert asked.status_code == 202 and "lien de connexion" in asked.text
    [record] = [r for r in site.store.outbox if r.topic == topics.PORTAL_SIGN_IN]
    assert data_of(record) == {
        "email_sha256": sign_in_links.email_digest("offers@scrc-senegal.example"),
        "language": "fr",
    }
    assert b"scrc-senegal" not in record.value and "scrc" not in str(record.headers).lower()


async def test_a_malformed_address_is_refused_and_nothing_is_sent(site: Site) -> None:
    form = await site.client.get("/portal/sign-in")
    refused = await site.client.post(
        "/portal/sign-in/email", data={"csrf": csrf_of(form), "email": "not an address"}
    )
    assert refused.status_code == 422
    assert [r for r in site.store.outbox if r.topic == topics.PORTAL_SIGN_IN] == []


def link_url(partner_id: str = "unido", expires_at: datetime | None = None) -> str:
    link = SignInLink(partner_id, uuid4(), uuid4().hex, expires_at or NOW + timedelta(minutes=15))
    return f"/portal/sign-in/link/{sign_in_links.sign(link, SECRET)}"


async def test_an_e_mailed_link_signs_a_partner_in_once_and_a_get_changes_nothing(
    site: Site,
) -> None:
    offer = await offered(site)
    url = link_url()
    prefetch = await site.client.get(url)  # a mail scanner
    assert prefetch.status_code == 200 and "unido" in prefetch.text
    assert (await site.client.get("/portal/")).status_code == 303
    signed = await site.client.post(url, data={"csrf": csrf_of(prefetch)})
    assert signed.status_code == 303 and signed.headers["location"] == "/portal/"
    home = await site.client.get("/portal/")
    assert home.status_code == 200 and str(offer.request_id) in home.text
    assert (await site.client.get("/console/")).status_code == 303  # a portal session only
    site.client.cookies.clear()
    again = await site.client.get(url)
    reused = await site.client.post(url, data={"csrf": csrf_of(again)})
    assert reused.status_code == 409
    assert (await site.client.get("/portal/")).status_code == 303


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (link_url(expires_at=NOW - timedelta(seconds=1)), 410),
        (link_url()[:-3] + "abc", 400),
        ("/portal/sign-in/link/" + "x" * 3000, 400),
    ],
)
async def test_an_expired_or_altered_link_gets_a_page_saying_so(
    site: Site, url: str, status: int
) -> None:
    assert (await site.client.get(url)).status_code == status


async def test_the_console_lists_dead_letters_and_replays_one_once(site: Site) -> None:
    letter = await dead_lettered(original(topics.ASSIGNMENT_RESPONSES), offset=7)
    site.dead_letters.letters[7] = letter
    site.dead_letters.letters[9] = hand_made({"x-dlq-topic": "__consumer_offsets"}, offset=9)
    await signed_in(site, "console", OPERATOR_KEY)
    listing = await site.client.get("/console/dead-letters")
    assert listing.status_code == 200
    assert "invalid_data" in listing.text and topics.ASSIGNMENT_RESPONSES in listing.text
    assert 'action="/console/dead-letters/7/replay"' in listing.text
    assert 'action="/console/dead-letters/9/replay"' not in listing.text  # refused: no button
    replayed = await site.client.post(
        "/console/dead-letters/7/replay", data={"csrf": csrf_of(listing)}
    )
    assert replayed.status_code == 303
    [sent] = site.dead_letters.sent
    assert (sent.topic, sent.partition) == (topics.ASSIGNMENT_RESPONSES, 2)
    again = await site.client.post(
        "/console/dead-letters/7/replay", data={"csrf": csrf_of(listing)}
    )
    assert again.status_code == 409
    assert len(site.dead_letters.sent) == 1
    after = await site.client.get("/console/dead-letters")
    assert "replayed" in after.text and 'action="/console/dead-letters/7/replay"' not in after.text


async def test_a_replay_without_the_csrf_token_writes_nothing(site: Site) -> None:
    site.dead_letters.letters[7] = await dead_lettered(original(topics.REQUESTS), offset=7)
    await signed_in(site, "console", OPERATOR_KEY)
    refused = await site.client.post("/console/dead-letters/7/replay", data={"csrf": "x"})
    assert refused.status_code == 403 and site.dead_letters.sent == []


async def test_signing_out_needs_the_sessions_csrf_token_and_ends_the_session(site: Site) -> None:
    await signed_in(site, "console", OPERATOR_KEY)
    home = await site.client.get("/console/")
    forged = await site.client.post("/console/sign-out", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert (await site.client.get("/console/")).status_code == 200  # still signed in
    done = await site.client.post("/console/sign-out", data={"csrf": csrf_of(home)})
    assert done.status_code == 303 and done.headers["location"] == "/console/sign-in"
    assert COOKIE not in site.client.cookies
    assert (await site.client.get("/console/")).status_code == 303


async def test_over_https_every_cookie_is_secure(site: Site) -> None:
    form = await site.client.get("https://intake.test/console/sign-in")
    assert "Secure" in form.headers["set-cookie"]
    done = await site.client.post(
        "https://intake.test/console/sign-in", data={"csrf": csrf_of(form), "key": OPERATOR_KEY}
    )
    assert done.status_code == 303
    session = next(c for c in done.headers.get_list("set-cookie") if c.startswith(COOKIE))
    assert "Secure" in session and "HttpOnly" in session


@pytest.mark.parametrize(
    "form",
    [
        {"reason": "x" * 5000},  # one field over the longest a page has
        {f"f{n}": "1" for n in range(20)},  # more fields than the form has
    ],
    ids=["oversized-field", "too-many-fields"],
)
async def test_an_oversized_or_stuffed_portal_form_changes_nothing(
    site: Site, form: dict[str, str]
) -> None:
    offer = await offered(site)
    await signed_in(site, "portal", PARTNER_KEY)
    home = await site.client.get("/portal/")
    refused = await site.client.post(
        f"/portal/assignments/{offer.assignment_id}/decline", data={"csrf": csrf_of(home), **form}
    )
    assert refused.status_code == 403
    assert responses(site) == []


async def test_an_oversized_address_asks_for_no_link(site: Site) -> None:
    form = await site.client.get("/portal/sign-in")
    refused = await site.client.post(
        "/portal/sign-in/email", data={"csrf": csrf_of(form), "email": "a" * 250 + "@example.org"}
    )
    assert refused.status_code == 422
    assert [r for r in site.store.outbox if r.topic == topics.PORTAL_SIGN_IN] == []
