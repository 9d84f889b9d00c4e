"""End to end, the lifecycle over HTTP (brief §7.2): partners accept, start and complete through
intake, the request completes, its submitter closes it with feedback, the report counts it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.local import stack
from shared.auth import create_key
from tests.e2e.test_walking_skeleton import LEAD, _submission
from tests.intake.events import eventually
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

SUPPORTS = ("unep-chemicals", "unido")  # tied for support on this request (docs/matcher.md)


@pytest.fixture
def services_up(services: Services, idle_partners: None) -> stack.StackSettings:
    services.ensure()
    return services.cfg


async def _key(pool: asyncpg.Pool, role: str, name: str, partner_id: str | None = None) -> str:
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role=role, name=name, partner_id=partner_id)  # type: ignore[arg-type]
    return key


async def test_work_is_completed_over_http_and_the_submitter_closes_it_with_feedback(
    services_up: stack.StackSettings, pool: asyncpg.Pool, unique: str
) -> None:
    intake = f"http://127.0.0.1:{services_up.intake_port}"
    submitter = {"X-API-Key": await _key(pool, "submitter", f"life-{unique}")}
    operator = {"X-API-Key": await _key(pool, "operator", f"life-op-{unique}")}
    partners = {
        p: {"X-API-Key": await _key(pool, "partner", f"life-{p}-{unique}", p)}
        for p in (LEAD, *SUPPORTS)
    }
    since = datetime.now(UTC).isoformat()
    async with httpx.AsyncClient(base_url=intake, timeout=10) as http:
        made = await http.post(
            "/v1/requests", json=_submission(f"life-{unique}"), headers=submitter
        )
        assert made.status_code == 202, made.text
        request_id = made.json()["request_id"]

        async def offers_of(partner: str) -> list[dict[str, Any]]:
            listed = await http.get("/v1/partners/me/assignments", headers=partners[partner])
            return [o for o in listed.json()["open"] if o["request_id"] == request_id]

        async def everyones() -> dict[str, list[dict[str, Any]]]:
            return {p: await offers_of(p) for p in partners}

        def lead_and_one_support(o: dict[str, list[dict[str, Any]]]) -> bool:
            return len(o[LEAD]) == 1 and sum(len(o[s]) for s in SUPPORTS) == 1

        found = await eventually(everyones, lead_and_one_support, wait=60)
        assert lead_and_one_support(found), found
        mine = {p: offers[0]["assignment_id"] for p, offers in found.items() if offers}

        async def act(partner: str, decision: str, body: dict[str, Any] | None = None) -> int:
            url = f"/v1/assignments/{mine[partner]}/{decision}"
            answered = await http.post(url, json=body, headers=partners[partner])
            return answered.status_code

        async def request() -> dict[str, Any]:
            got: dict[str, Any] = (
                await http.get(f"/v1/requests/{request_id}", headers=submitter)
            ).json()
            return got

        for partner in mine:
            assert await act(partner, "accept") == 202
        settled = await eventually(request, lambda r: r["status"] == "matched", wait=60)
        assert settled["status"] == "matched", settled
        early = await http.post(
            f"/v1/requests/{request_id}/feedback", json={"rating": 5}, headers=submitter
        )
        assert early.status_code == 409  # partners still work on it

        assert await act(LEAD, "start") == 202
        done = {"outcome": "30 officers trained", "deliverables": ["https://example.org/r.pdf"]}
        assert await act(LEAD, "withdraw", {"reason": ""}) == 422  # a withdrawal says why
        for partner in mine:
            assert await act(partner, "complete", done) == 202
        assert await act(LEAD, "complete", done) == 202  # the same answer again: harmless
        assert await act(LEAD, "withdraw", {"reason": "too late"}) == 409  # it is done

        completed = await eventually(request, lambda r: r["status"] == "completed", wait=60)
        assert completed["status"] == "completed", completed
        summaries = [t["summary"] for t in completed["timeline"]]
        assert any(s.startswith(f"completed by {LEAD}: 30 officers trained") for s in summaries)

        feedback = {"rating": 5, "comment": "Practical and on time"}
        closing = await http.post(
            f"/v1/requests/{request_id}/feedback", json=feedback, headers=submitter
        )
        assert closing.status_code == 202, closing.text
        closed = await eventually(request, lambda r: r["status"] == "closed", wait=60)
        assert closed["status"] == "closed", closed
        assert any("rated 5/5" in t["summary"] for t in closed["timeline"])

        report = await http.get("/v1/reports/assistance", params={"from": since}, headers=operator)
        assert report.status_code == 200, report.text
        figures = report.json()
        assert figures["requests"]["by_status"]["closed"] >= 1
        lead = next(p for p in figures["partners"] if p["partner_id"] == LEAD)
        assert lead["completed"] >= 1 and lead["mean_rating"] is not None
