"""Hostile HTTP input on all three services, in-process on the real Kafka and PostgreSQL: a body
is cut off at the limit before anything parses it, a caller without a valid key is told 401
whatever its body, and every key (or, without one, every client address) has a budget."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from deploy.local import stack
from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from services.matcher.app import create_app as matcher_app
from services.matcher.settings import MatcherSettings
from services.notifier.app import create_app as notifier_app
from services.notifier.settings import NotifierSettings
from shared import auth
from tests.stack_helpers import service_kafka

# Budgets counted in days: a test never straddles a window, so each is exact. Every test uses
# its own keys and its own client address, so no test spends another's budget.
BUDGET = 10
RATE_LIMIT = f"{BUDGET}/day"
LIMIT = 64 * 1024  # every service's default body limit
CHUNK = 16 * 1024
FIVE_MB = 5 * 1024 * 1024
MALFORMED = b'{"this is": not json'
TOO_DEEP = b"[" * 30_000 + b"]" * 30_000  # under the limit, deeper than any parser likes


@dataclass(frozen=True)
class Service:
    """One service's app and, for the tests, a `/v1` route with a JSON body and one without."""

    app: FastAPI
    role: auth.Role
    post: str
    get: str


def _settings(infra: stack.StackSettings, name: str) -> dict[str, Any]:
    return {**service_kafka(infra, name), "database_url": infra.db_url, "rate_limit": RATE_LIMIT}


def _builders(infra: stack.StackSettings) -> dict[str, Callable[[], Service]]:
    return {
        "intake": lambda: Service(
            intake_app(IntakeSettings(**_settings(infra, "intake")), CollectorRegistry()),
            "submitter",
            "/v1/requests",
            f"/v1/requests/{uuid4()}",
        ),
        "matcher": lambda: Service(
            matcher_app(MatcherSettings(**_settings(infra, "matcher"))),
            "operator",
            "/v1/partners",
            "/v1/partners?active=true",
        ),
        "notifier": lambda: Service(
            notifier_app(NotifierSettings(**_settings(infra, "notifier"), notifier_workers=1)),
            "operator",
            "/v1/partners/guard-test/endpoints",
            "/v1/deliveries?limit=1",
        ),
    }


@pytest.fixture(scope="module")
async def running(infra: stack.StackSettings) -> AsyncIterator[dict[str, Service]]:
    """The three services' real apps with their lifespans (pool, broker, workers) running."""
    async with AsyncExitStack() as started:
        services = {name: build() for name, build in _builders(infra).items()}
        for service in services.values():
            await started.enter_async_context(service.app.router.lifespan_context(service.app))
        yield services


@dataclass
class Caller:
    """An HTTP client from its own address, with keys made for it on the real database."""

    service: Service
    pool: asyncpg.Pool
    address: str = field(default_factory=lambda: f"client-{uuid4().hex[:8]}")

    def client(self, address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.service.app, client=(address or self.address, 1))
        return httpx.AsyncClient(transport=transport, base_url="http://service.test")

    async def key(self) -> dict[str, str]:
        async with self.pool.acquire() as conn:
            partner = "guard-test" if self.service.role == "partner" else None
            _, key = await auth.create_key(
                conn, role=self.service.role, name=f"guard-{uuid4().hex[:8]}", partner_id=partner
            )
        return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


@pytest.fixture(params=["intake", "matcher", "notifier"])
def caller(
    request: pytest.FixtureRequest, running: dict[str, Service], pool: asyncpg.Pool
) -> Caller:
    return Caller(running[request.param], pool)


class CountedBody:
    """A 5 MB chunked body that counts how many of its chunks the server pulled."""

    def __init__(self, size: int = FIVE_MB) -> None:
        self.chunks = size // CHUNK
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * CHUNK


async def test_a_chunked_body_over_the_limit_is_413_after_reading_no_more_than_the_limit(
    caller: Caller,
) -> None:
    headers = await caller.key()
    for sent in (headers, {}):  # with a valid key and without one: the limit comes first
        body = CountedBody()
        async with caller.client() as http:
            answer = await http.post(caller.service.post, content=body, headers=sent)
        assert answer.status_code == 413, answer.text
        assert body.pulled <= LIMIT // CHUNK + 1 < body.chunks


async def test_a_body_announced_over_the_limit_is_413_before_a_byte_is_read(
    caller: Caller,
) -> None:
    body = CountedBody()
    headers = {**await caller.key(), "Content-Length": str(FIVE_MB)}
    async with caller.client() as http:
        answer = await http.post(caller.service.post, content=body, headers=headers)
    assert answer.status_code == 413, answer.text
    assert body.pulled == 0


async def test_without_a_valid_key_any_body_is_401_never_422(caller: Caller) -> None:
    unknown = f"stax_{uuid4().hex[:12]}_{'A' * 43}"
    attempts = [{}, {"X-API-Key": "not-a-key"}, {"Authorization": f"Bearer {unknown}"}]
    async with caller.client() as http:
        for headers in attempts:
            for body in (MALFORMED, TOO_DEEP):
                sent = {**headers, "Content-Type": "application/json"}  # or FastAPI won't parse
                answer = await http.post(caller.service.post, content=body, headers=sent)
                assert answer.status_code == 401, (headers, answer.text)
                assert answer.headers["WWW-Authenticate"] == "Bearer"
                assert answer.json()["errors"][0]["code"] == "unauthenticated"


async def test_with_a_valid_key_a_malformed_body_is_422(caller: Caller) -> None:
    async with caller.client() as http:
        answer = await http.post(caller.service.post, content=MALFORMED, headers=await caller.key())
    assert answer.status_code == 422, answer.text


# Each is valid JSON, and PostgreSQL refuses it: a 500 inside the route before (found by
# tests/fuzz/test_openapi_services.py, a NUL in a contact's name).
UNSTORABLE = [
    (b'{"name": "a\\u0000b", "url": "https://x.example"}', "name", "unstorable_text"),
    (b'{"list": [{"deep": "\\ud800"}]}', "list.0.deep", "unstorable_text"),
    (b'{"a\\u0000": 1}', "a\\u0000", "unstorable_text"),
    (b'{"score": NaN}', "score", "not_json"),
]


@pytest.mark.parametrize(("body", "where", "code"), UNSTORABLE)
async def test_a_body_postgresql_cannot_store_is_422_naming_the_field(
    caller: Caller, body: bytes, where: str, code: str
) -> None:
    sent = {**await caller.key(), "Content-Type": "application/json"}
    async with caller.client() as http:
        answer = await http.post(caller.service.post, content=body, headers=sent)
        [error] = answer.json()["errors"]
        assert (answer.status_code, error["field"], error["code"]) == (422, where, code)
        # Without a key the gate answers first, whatever the body holds.
        unknown = await http.post(
            caller.service.post, content=body, headers={"Content-Type": "application/json"}
        )
        assert unknown.status_code == 401


def _assert_rate_limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text[:200]
    assert 1 <= int(answer.headers["Retry-After"]) <= 24 * 3600
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == (None, "rate_limited")
    assert error["message"]


async def test_each_key_has_its_own_budget_and_past_it_gets_429_with_retry_after(
    caller: Caller,
) -> None:
    spender, other = await caller.key(), await caller.key()
    async with caller.client() as http:
        for _ in range(BUDGET):
            assert (await http.get(caller.service.get, headers=spender)).status_code != 429
        _assert_rate_limited(await http.get(caller.service.get, headers=spender))
        _assert_rate_limited(await http.post(caller.service.post, content=b"{}", headers=spender))
        assert (await http.get(caller.service.get, headers=other)).status_code != 429


async def test_failed_authentications_are_limited_per_address_and_lock_out_no_valid_key(
    caller: Caller,
) -> None:
    bad = {"Authorization": f"Bearer stax_{uuid4().hex[:12]}_{'B' * 43}"}
    async with caller.client() as http:
        for _ in range(BUDGET):
            assert (await http.get(caller.service.get, headers=bad)).status_code == 401
        _assert_rate_limited(await http.get(caller.service.get, headers=bad))
        _assert_rate_limited(await http.get(caller.service.get))
        # A valid key behind the same address (a proxy, a NAT) keeps its own budget.
        valid = await http.get(caller.service.get, headers=await caller.key())
        assert valid.status_code not in (401, 429), valid.text
        assert (await http.get("/healthz")).status_code == 200  # probes are not /v1: no key
    async with caller.client(address=f"other-{caller.address}") as elsewhere:
        assert (await elsewhere.get(caller.service.get, headers=bad)).status_code == 401


async def test_the_addresses_of_one_ipv6_64_share_one_budget_for_failures(caller: Caller) -> None:
    # Only strings in the request's scope: nothing is sent to these documentation addresses.
    net = f"2001:db8:{uuid4().int % 0xFFFF:x}:{uuid4().int % 0xFFFF:x}"
    async with caller.client(address=f"{net}::1") as first:
        for _ in range(BUDGET):
            assert (await first.get(caller.service.get)).status_code == 401
    async with caller.client(address=f"{net}:ffff::2") as same_host:
        _assert_rate_limited(await same_host.get(caller.service.get))
    async with caller.client(address=f"2001:db8:ffff:{uuid4().int % 0xFFFF:x}::1") as other:
        assert (await other.get(caller.service.get)).status_code == 401


def test_every_v1_operation_documents_401_413_and_429_with_retry_after(
    running: dict[str, Service],
) -> None:
    for name, service in running.items():
        paths = service.app.openapi()["paths"]
        operations = [
            op for path, ops in paths.items() if path.startswith("/v1/") for op in ops.values()
        ]
        assert operations, name
        for operation in operations:
            assert {"401", "413", "429"} <= set(operation["responses"]), (name, operation)
            assert "Retry-After" in operation["responses"]["429"]["headers"]


ERROR_FIELDS = {"field", "code", "message"}


def _assert_error_body(answer: httpx.Response) -> list[dict[str, Any]]:
    """Brief §7.3: `{"errors": [{field, code, message}, ...]}` and nothing else at the top."""
    assert 400 <= answer.status_code < 500, answer.text[:200]
    body = answer.json()
    assert set(body) == {"errors"}, (answer.status_code, body)
    assert body["errors"], body
    for error in body["errors"]:
        assert set(error) >= ERROR_FIELDS, error
        assert error["field"] is None or isinstance(error["field"], str)
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
    errors: list[dict[str, Any]] = body["errors"]
    return errors


async def test_every_4xx_of_every_service_has_the_one_error_body(caller: Caller) -> None:
    headers = await caller.key()  # a budget of BUDGET requests: five are sent with it
    async with caller.client() as http:
        answers = {
            401: await http.get(caller.service.get),
            404: await http.get("/v1/no-such-route", headers=headers),
            413: await http.post(caller.service.post, content=b" " * (LIMIT + 1), headers=headers),
            422: await http.post(caller.service.post, content=MALFORMED, headers=headers),
        }
        wrong_field = await http.post(caller.service.post, json={"no such": []}, headers=headers)
    assert {status: answer.status_code for status, answer in answers.items()} == {
        status: status for status in answers
    }
    assert wrong_field.status_code == 422, wrong_field.text
    for answer in [*answers.values(), wrong_field]:
        _assert_error_body(answer)
    [malformed] = _assert_error_body(answers[422])
    assert (malformed["field"], malformed["code"]) == (None, "invalid_json")
    assert _assert_error_body(answers[401])[0]["code"] == "unauthenticated"
    assert _assert_error_body(answers[404])[0]["code"] == "not_found"
    assert any(e["field"] for e in _assert_error_body(wrong_field))  # says which field


def test_every_4xx_every_service_documents_is_the_one_error_body(
    running: dict[str, Service],
) -> None:
    for name, service in running.items():
        document = service.app.openapi()
        assert set(document["components"]["schemas"]["ErrorBody"]["properties"]) == {"errors"}
        documented = 0
        for path, operations in document["paths"].items():
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if status.startswith("4"):
                        documented += 1
                        schema = response["content"]["application/json"]["schema"]
                        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (
                            name,
                            path,
                            status,
                        )
        assert documented, name
