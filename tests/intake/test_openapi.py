"""intake's served OpenAPI document: accurate (schemathesis finds no 5xx and no response that
contradicts it) and documented with examples. Runs against intake as a real process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok
from typer.testing import CliRunner

from deploy.operations.cli import app as cli
from tests.stack_helpers import Services


def _key(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["keys", "create", *args], env={"STAX_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
async def intake_url(services: Services) -> AsyncIterator[str]:
    # Generated answers name assignments nobody offered; each would wait the default 3 s for its
    # offer before its 404. 50 ms still takes them down that path.
    services.configure("intake", {"STAX_INTAKE_OFFER_WAIT_MS": "50"})
    # In a thread: the in-process intake of the other tests, in the same consumer group, must
    # rejoin it for this one's consumers to be given partitions.
    await asyncio.to_thread(services.ensure, "intake")
    yield services.url("intake")
    services.stop("intake")  # the next module to ensure it gets the defaults


@pytest.fixture(scope="module")
def keys(database_url: str) -> dict[str, str]:
    return {
        "submitter": _key(database_url, "--role", "submitter", "--name", "schemathesis"),
        "partner": _key(database_url, "--role", "partner", "--partner", "schemathesis"),
    }


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_call_breaks_intake_or_its_documented_contract(
    intake_url: str, keys: dict[str, str], mode: GenerationMode
) -> None:
    served = schemathesis.openapi.from_url(f"{intake_url}/openapi.json")
    for result in served.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the document itself must be valid
        operation = result.ok()
        # Partner routes get a partner key, the others a submitter key: the calls then reach
        # validation and the handlers, not only the 403 of the role check.
        role = "partner" if "assignments" in operation.path else "submitter"
        _fuzz(operation, {"Authorization": f"Bearer {keys[role]}"}, mode)


def _fuzz(operation: Any, auth: dict[str, str], mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case: Any) -> None:
        case.call_and_validate(headers=auth, checks=CHECKS)

    try:
        call()
    except Unsatisfiable:
        # Negative mode on a route without parameters or body: there is no invalid input.
        assert mode is GenerationMode.NEGATIVE
        assert not operation.body and not list(operation.iter_parameters())


def test_the_document_lists_every_route_with_auth_errors_and_an_example(intake_url: str) -> None:
    document = httpx.get(f"{intake_url}/openapi.json", timeout=10).json()
    paths = document["paths"]
    assert {
        "/v1/requests",
        "/v1/requests/{request_id}",
        "/v1/assignments/{assignment_id}/accept",
        "/v1/assignments/{assignment_id}/decline",
        "/v1/partners/me/assignments",
    } <= set(paths)
    submit = paths["/v1/requests"]["post"]
    assert {"202", "401", "403", "409", "413", "422"} <= set(submit["responses"])
    example = submit["requestBody"]["content"]["application/json"]["examples"]["senegal"]
    assert example["value"]["party"] == "SEN"
    assert "Idempotency-Key" in {p["name"] for p in submit["parameters"]}
    errors = submit["responses"]["422"]["content"]["application/json"]["schema"]
    assert errors == {"$ref": "#/components/schemas/ErrorBody"}
    schemas = document["components"]["schemas"]
    for name in ("SubmitAnswer", "AnswerBody"):
        assert schemas[name]["examples"], name
