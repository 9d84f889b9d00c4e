"""In Chromium, on the real stack: an operator signs in to the console, reads the overview with
its chart, raises a partner's capacity in the registry, and replays a dead-lettered record; a
partner signs in to the portal with its key. Each page is photographed (STAX_SCREENSHOTS=1
writes docs/screenshots)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import Page, expect

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.browser.pages import sign_in
from tests.e2e.offer_mail import api_key
from tests.e2e.test_walking_skeleton import _submission
from tests.intake.events import eventually
from tests.stack_helpers import Services

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

WIDE = {"width": 1280, "height": 900}


async def test_an_operator_raises_a_partners_capacity_in_the_console(
    services: Services,
    pool: asyncpg.Pool,
    page: Page,
    shots: Path,
    unique: str,
) -> None:
    services.ensure()
    intake, matcher = services.url("intake"), services.url("matcher")
    operator = (await api_key(pool, "operator", f"console-{unique}"))["X-API-Key"]
    partner_id = f"console-{unique}"
    async with httpx.AsyncClient(timeout=10, headers={"X-API-Key": operator}) as http:
        await _add_quiet_partner(http, matcher, partner_id)
        await _requests_offered(http, pool, intake, unique)
        await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
        await sign_in(page, intake, "console", operator)
        await _overview(page, shots)
        await _lists(page, shots)
        await page.get_by_role("link", name="Partners").click()
        row = page.locator(f"#p-{partner_id}")
        await expect(row.get_by_text("0 / 1")).to_be_visible()
        await row.get_by_label("Capacity").fill("4")
        await page.screenshot(path=shots / "console-partners.png", full_page=False)
        await row.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_contain_text("Saved")
        await expect(page.locator(f"#p-{partner_id}").get_by_text("0 / 4")).to_be_visible()
        await _a_refusal_is_shown(page, partner_id)
        found = (await http.get(f"{matcher}/v1/partners/{partner_id}")).json()
    assert (found["capacity"], found["active"]) == (4, False)


async def _requests_offered(
    http: httpx.AsyncClient, pool: asyncpg.Pool, intake: str, unique: str
) -> None:
    """A few requests through the real matcher, so the overview has something to count."""
    submitter = await api_key(pool, "submitter", f"console-sub-{unique}")
    ids = []
    for n in range(3):
        posted = await http.post(
            f"{intake}/v1/requests", json=_submission(f"console-{unique}-{n}"), headers=submitter
        )
        assert posted.status_code == 202, posted.text
        ids.append(posted.json()["request_id"])

    async def statuses() -> list[str]:
        views = [(await http.get(f"{intake}/v1/requests/{i}")).json() for i in ids]
        return [v["status"] for v in views]

    await eventually(statuses, lambda found: "accepted" not in found, wait=60)


async def _a_refusal_is_shown(page: Page, partner_id: str) -> None:
    """htmx (boosted forms) sends the form, and shows the matcher's refusal of an unknown topic
    code: an error page is swapped in like any other (htmx's default would drop it)."""
    assert await page.evaluate("typeof htmx") == "object"
    row = page.locator(f"#p-{partner_id}")
    await row.get_by_label("Topics").fill("NO_SUCH_TOPIC")
    async with page.expect_request(lambda r: r.method == "POST") as sent:
        await row.get_by_role("button", name="Save").click()
    assert (await sent.value).headers.get("hx-request") == "true"
    await expect(page.get_by_role("heading", name="This could not be done")).to_be_visible()
    await expect(page.get_by_text("NO_SUCH_TOPIC")).to_be_visible()
    await page.go_back()


async def _lists(page: Page, shots: Path) -> None:
    """The requests (the ones just submitted among them) and the deliveries, one click each."""
    await page.get_by_role("link", name="All requests").click()
    await expect(page.get_by_role("heading", name="Requests")).to_be_visible()
    await expect(page.get_by_role("row").filter(has_text="SEN").first).to_be_visible()
    await page.screenshot(path=shots / "console-requests.png", full_page=False)
    await page.get_by_role("link", name="Deliveries").click()
    await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    await page.screenshot(path=shots / "console-deliveries.png", full_page=False)


async def _overview(page: Page, shots: Path) -> None:
    await expect(page.get_by_role("heading", name="Operator console")).to_be_visible()
    await expect(page.get_by_role("heading", name="Time to the first offer")).to_be_visible()
    drawn = page.locator("#first-offer-chart[data-drawn='yes']")  # Chart.js ran (console.js)
    await expect(drawn).to_have_count(1)
    await page.screenshot(path=shots / "console-overview.png", full_page=True)


async def _add_quiet_partner(http: httpx.AsyncClient, matcher: str, partner_id: str) -> None:
    """A partner like the first of the registry, but inactive (never offered work: other tests'
    requests are not drawn to it) and with room for one."""
    [model, *_] = (await http.get(f"{matcher}/v1/partners")).json()["partners"]
    spec: dict[str, Any] = {
        k: v
        for k, v in model.items()
        if k not in ("open_assignments", "operator_edited", "updated_at")
    }
    spec |= {"partner_id": partner_id, "name": f"Console test {partner_id}", "capacity": 1}
    spec |= {"active": False}
    added = await http.post(f"{matcher}/v1/partners", json=spec)
    assert added.status_code == 201, added.text


async def test_an_operator_replays_a_dead_lettered_record_in_the_console(
    services: Services,
    pool: asyncpg.Pool,
    kafka: KafkaAccess,
    page: Page,
    shots: Path,
    unique: str,
) -> None:
    """A record matcher cannot read is dead-lettered; the operator replays it from the console:
    it goes back to its topic, where matcher dead-letters it again (it is still unreadable),
    which is how the test sees that the replay reached Kafka."""
    services.ensure()
    intake = services.url("intake")
    operator = await api_key(pool, "operator", f"dlq-{unique}")
    marker = f"unreadable-{unique}"
    await _produce(kafka, topics.ASSIGNMENT_RESPONSES, marker)
    async with httpx.AsyncClient(timeout=10, headers=operator) as http:
        [first] = await eventually(
            lambda: _dead_letters(http, intake, marker), lambda found: len(found) == 1, wait=60
        )
        await page.set_viewport_size(WIDE)  # type: ignore[arg-type]
        await sign_in(page, intake, "console", operator["X-API-Key"])
        await page.get_by_role("link", name="Dead letters").click()
        row = page.locator(f"#d-{first['offset']}")
        await expect(row.get_by_text(marker)).to_be_visible()
        await page.screenshot(path=shots / "console-dead-letters.png", full_page=False)
        await row.get_by_role("button", name="Replay").click()
        await expect(page.get_by_role("status")).to_contain_text("Replayed")
        await expect(page.locator(f"#d-{first['offset']}")).to_contain_text("replayed")
        again = await eventually(
            lambda: _dead_letters(http, intake, marker), lambda found: len(found) == 2, wait=60
        )
    assert {d["topic"] for d in again} == {topics.ASSIGNMENT_RESPONSES}
    assert again[1]["replayed"] is not None and again[0]["replayed"] is None


async def _produce(kafka: KafkaAccess, topic: str, marker: str) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka())
    await producer.start()
    try:
        value = json.dumps({"note": marker, "decision": "maybe"}).encode()
        await producer.send_and_wait(topic, value, key=marker.encode())
    finally:
        await producer.stop()


async def _dead_letters(http: httpx.AsyncClient, intake: str, marker: str) -> list[Any]:
    """The dead letters whose key is `marker`, newest first (the newest hundred are enough)."""
    page = (await http.get(f"{intake}/v1/dead-letters", params={"limit": 100})).json()
    return [d for d in page["dead_letters"] if d["key"] == marker]
