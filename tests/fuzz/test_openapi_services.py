"""schemathesis against matcher's and notifier's served OpenAPI documents (intake has its own,
tests/intake/test_openapi.py), on the services running as processes: no generated call, valid or
not, gets a 5xx. Operator routes get an operator key; notifier's partner-scoped routes are also
called with a partner key of their own (its routes check that a partner only touches itself)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from typer.testing import CliRunner

from deploy.operations.cli import app as cli
from tests.fuzz.conftest import EXAMPLES
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

MAX_EXAMPLES = 10


def _key(database_url: str, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["keys", "create", *args], env={"STAX_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def keys(database_url: str) -> dict[str, str]:
    return {
        "operator": _key(database_url, "--role", "operator", "--name", "fuzz-operator"),
        "partner": _key(database_url, "--role", "partner", "--partner", "fuzzpartner"),
    }


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(
    ("service", "role"),
    [("matcher", "operator"), ("notifier", "operator"), ("notifier", "partner")],
)
def test_no_generated_call_gets_a_server_error(
    services: Services, keys: dict[str, str], service: str, role: str, mode: GenerationMode
) -> None:
    services.ensure(service)
    served = schemathesis.openapi.from_url(f"{services.url(service)}/openapi.json")
    auth = {"Authorization": f"Bearer {keys[role]}"}
    for result in served.get_all_operations():
        assert isinstance(result, Ok), result.err()  # the document itself must be valid
        operation = result.ok()
        if role == "partner" and "/partners/{partner_id}/" not in operation.path:
            continue  # the operator-only routes answer a partner 403 before anything else
        _fuzz(f"{service} {role} {mode.value} {operation.label}", operation, auth, mode)


def _fuzz(target: str, operation: Any, auth: dict[str, str], mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case: Any) -> None:
        EXAMPLES[f"schemathesis {target.split(' ', maxsplit=1)[0]}"] += 1
        case.call_and_validate(headers=auth, checks=[not_a_server_error])

    try:
        call()
    except Unsatisfiable:
        # Negative mode on a route without parameters or body: there is no invalid input.
        assert mode is GenerationMode.NEGATIVE
