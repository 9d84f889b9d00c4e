"""matcher's routes in process, on the fake unit of work: each answer, and each refusal as the
one error body with the codes and fields clients rely on (no PostgreSQL, no Kafka)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from fastapi import FastAPI

from services.matcher import api
from services.matcher.adapters import reference_data
from services.matcher.domain import MatchPolicy
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from shared import http_errors
from shared.auth import Principal
from tests.matcher.fakes import MatcherStore, fake_units

TAXONOMY = reference_data.load_taxonomy()
SEED = reference_data.load_seed(TAXONOMY)
NEW = {
    "partner_id": "test-lab",
    "name": "Test partner",
    "kind": "igo",
    "serves_regions": ["AFR"],
    "topics": ["PCB"],
    "assistance_types": ["training"],
    "languages": ["fr"],
    "capacity": 3,
}


async def an_operator() -> Principal:
    return Principal(key_id="k", role="operator", name="tests", partner_id=None)


@pytest.fixture
def store() -> MatcherStore:
    return MatcherStore()


@pytest.fixture
async def http(store: MatcherStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    http_errors.install(app)
    api.install(app)
    app.state.units = fake_units(store)
    app.state.catalog = Catalog(TAXONOMY, SEED)
    # an operator's edit may serve waiting requests (app.py builds the same in the service)
    app.state.matching = Matching(
        app.state.catalog,
        MatchPolicy(),
        lambda: datetime.now(UTC),
        timedelta(days=5),
        timedelta(days=30),
    )
    # Keys are shared.auth's business (tested there and end to end); here every caller operates.
    _, depends = get_args(api.Operator)
    app.dependency_overrides[depends.dependency] = an_operator
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matcher") as client:
        yield client


def errors(answer: httpx.Response) -> list[dict[str, Any]]:
    body: dict[str, list[dict[str, Any]]] = answer.json()
    return body["errors"]


async def test_a_partner_is_created_read_patched_and_deactivated(
    http: httpx.AsyncClient, store: MatcherStore
) -> None:
    created = await http.post("/v1/partners", json=NEW)
    assert created.status_code == 201, created.text
    assert created.json()["operator_edited"] is True

    patched = await http.patch("/v1/partners/test-lab", json={"capacity": 7})
    assert patched.status_code == 200 and patched.json()["capacity"] == 7
    gone = await http.delete("/v1/partners/test-lab")
    assert gone.status_code == 200 and gone.json()["active"] is False
    read = await http.get("/v1/partners/test-lab")
    assert (read.json()["capacity"], read.json()["active"]) == (7, False)
    inactive = (await http.get("/v1/partners", params={"active": "false"})).json()["partners"]
    assert "test-lab" in {p["partner_id"] for p in inactive}
    assert store.commits >= 5


async def test_an_unknown_partner_is_404_not_found_on_partner_id(
    http: httpx.AsyncClient,
) -> None:
    for answer in (
        await http.get("/v1/partners/nobody-here"),
        await http.patch("/v1/partners/nobody-here", json={"capacity": 1}),
        await http.delete("/v1/partners/nobody-here"),
    ):
        assert answer.status_code == 404
        assert errors(answer) == [
            {"field": "partner_id", "code": "not_found", "message": "no partner 'nobody-here'"}
        ]


async def test_a_taken_id_is_409_exists_on_partner_id(http: httpx.AsyncClient) -> None:
    taken = await http.post("/v1/partners", json={**NEW, "partner_id": "scrc-senegal"})

    assert taken.status_code == 409
    assert errors(taken) == [
        {
            "field": "partner_id",
            "code": "exists",
            "message": "partner 'scrc-senegal' exists; PATCH it instead",
        }
    ]


async def test_a_partner_outside_the_taxonomy_is_422_with_every_reason_and_nothing_kept(
    http: httpx.AsyncClient, store: MatcherStore
) -> None:
    refused = await http.post("/v1/partners", json={**NEW, "topics": ["NOPE"], "languages": ["x"]})

    assert refused.status_code == 422
    assert {(e["field"], e["code"]) for e in errors(refused)} == {
        ("topics.0", "unknown_topic"),
        ("languages.0", "bad_language"),
    }
    assert "test-lab" not in store.partners and store.rollbacks == 1


async def test_a_patch_making_an_invalid_partner_is_422(http: httpx.AsyncClient) -> None:
    assert (await http.post("/v1/partners", json=NEW)).status_code == 201

    refused = await http.patch("/v1/partners/test-lab", json={"kind": "party"})

    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in errors(refused)] == [("country", "missing")]
