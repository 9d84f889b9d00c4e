"""The answer pages on the real intake (its app, PostgreSQL and Kafka): a GET leaves no row
anywhere; a confirmed POST leaves one answer, one outbox row and a timeline entry; a repeat or a
contradiction leaves nothing more."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from deploy.local import stack
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.answer_links import AnswerLink, LinkDecision, digest, sign
from shared.events import AssignmentOffered
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import OFFER_WAIT_S, MakeKey
from tests.intake.events import offer, publish
from tests.intake.offers import not_yet_offered, offered_to
from tests.stack_helpers import service_kafka

SECRET = "postgres-pages-secret"


@pytest.fixture(scope="module")
async def linked(infra: stack.StackSettings) -> AsyncIterator[httpx.AsyncClient]:
    """intake as app.py builds it, with answer links on."""
    settings = IntakeSettings(
        **service_kafka(infra, "intake"),
        database_url=infra.db_url,
        outbox_poll_seconds=0.2,
        answer_link_secret=SecretStr(SECRET),
        intake_offer_wait_ms=round(OFFER_WAIT_S * 1000),
    )
    app: FastAPI = create_app(settings, registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client


async def _offered(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, partner_id: str
) -> tuple[AssignmentOffered, dict[str, str]]:
    """A request offered to `partner_id`, once intake knows the offer; and a submitter's key."""
    offers, submitter = await offered_to(client, make_key, kafka, partner_id)
    return offers[0], submitter


def _url(offered: AssignmentOffered, decision: LinkDecision) -> str:
    link = AnswerLink(offered.assignment_id, offered.partner_id, decision, offered.respond_by)
    return f"/answer/{sign(link, SECRET)}"


async def _rows(pool: asyncpg.Pool, assignment_id: UUID) -> tuple[int, int, int]:
    """(answers, outbox rows of ta.assignment.response, used links) of one assignment."""
    answers = await pool.fetchval(
        "SELECT count(*) FROM intake.assignment_answers WHERE assignment_id = $1", assignment_id
    )
    outbox = await pool.fetchval(
        "SELECT count(*) FROM intake.outbox WHERE headers ->> 'ce_type' = 'ta.assignment.response'"
        " AND convert_from(value, 'UTF8')::jsonb ->> 'assignment_id' = $1",
        str(assignment_id),
    )
    used = await pool.fetchval(
        "SELECT count(*) FROM intake.used_answer_links WHERE assignment_id = $1", assignment_id
    )
    return answers, outbox, used


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def test_a_link_confirmed_answers_once_and_a_prefetch_changes_nothing(
    linked: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, pool: asyncpg.Pool
) -> None:
    offered, submitter = await _offered(linked, make_key, kafka, f"centre-{uuid4().hex[:8]}")
    url = _url(offered, "accept")
    timeline = f"/v1/requests/{offered.request_id}"
    before = (await linked.get(timeline, headers=submitter)).json()["timeline"]

    for _ in range(2):  # a scanner's prefetch, then the person
        page = await linked.get(url)
        assert page.status_code == 200
    assert "PCB inventory support" in page.text and "SEN" in page.text
    assert await _rows(pool, offered.assignment_id) == (0, 0, 0)
    assert (await linked.get(timeline, headers=submitter)).json()["timeline"] == before

    done = await linked.post(url, data={"csrf": _csrf(page)})
    assert done.status_code == 200, done.text
    assert await _rows(pool, offered.assignment_id) == (1, 1, 1)
    used = await pool.fetchval(
        "SELECT digest FROM intake.used_answer_links WHERE assignment_id = $1",
        offered.assignment_id,
    )
    assert used == digest(url.removeprefix("/answer/"))
    after = (await linked.get(timeline, headers=submitter)).json()["timeline"]
    assert [e for e in after if e["event"] == "ta.assignment.response"]

    again = await linked.post(url, data={"csrf": linked.cookies["stax_csrf"]})
    assert again.status_code == 409 and "already been used" in again.text
    assert await _rows(pool, offered.assignment_id) == (1, 1, 1)


async def test_a_contradicting_link_is_a_409_page_and_records_nothing(
    linked: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, pool: asyncpg.Pool
) -> None:
    offered, _ = await _offered(linked, make_key, kafka, f"centre-{uuid4().hex[:8]}")
    accept = _url(offered, "accept")
    assert (await linked.post(accept, data={"csrf": _csrf(await linked.get(accept))})).is_success
    decline = _url(offered, "decline")
    assert (await linked.get(decline)).status_code == 409
    posted = await linked.post(decline, data={"csrf": linked.cookies["stax_csrf"]})
    assert posted.status_code == 409 and "cannot be answered" in posted.text
    assert await _rows(pool, offered.assignment_id) == (1, 1, 1)


async def test_a_post_without_csrf_records_nothing(
    linked: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, pool: asyncpg.Pool
) -> None:
    offered, _ = await _offered(linked, make_key, kafka, f"centre-{uuid4().hex[:8]}")
    url = _url(offered, "accept")
    await linked.get(url)
    assert (await linked.post(url, data={"csrf": "forged"})).status_code == 403
    assert await _rows(pool, offered.assignment_id) == (0, 0, 0)


async def test_the_pages_are_not_api_operations(linked: httpx.AsyncClient) -> None:
    document = (await linked.get("/openapi.json")).json()
    assert not [path for path in document["paths"] if path.startswith("/answer")]
    unknown = AnswerLink(uuid4(), "nobody", "accept", offer(uuid4(), "x").respond_by)
    page = await linked.get(f"/answer/{sign(unknown, SECRET)}")  # no API key needed
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


async def test_a_link_opened_before_intake_has_read_its_offer_waits_for_it(
    linked: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess
) -> None:
    """The offer e-mail and intake's record of the offer come from the same event, by separate
    consumers: the person (or a mail scanner) can open the link first."""
    early, subject = await not_yet_offered(linked, make_key, f"centre-{uuid4().hex[:8]}")
    opening = asyncio.create_task(linked.get(_url(early, "accept")))
    await asyncio.sleep(0.2)
    assert not opening.done()  # waiting for the offer, not a 404 page
    await publish(kafka, (early, subject))
    page = await opening
    assert page.status_code == 200, page.text
    assert "PCB inventory support" in page.text
