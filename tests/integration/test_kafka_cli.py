"""`stax kafka` as an operator types it: grant prints working client settings on its last line,
revoke makes them useless, admin-config prints the admin's."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deploy.local.cli import app
from deploy.local.stack import StackSettings
from tests.tenants import connects


def _env(infra: StackSettings) -> dict[str, str]:
    return {
        "STAX_HOME": str(infra.home),
        "STAX_KAFKA_PORT": str(infra.kafka_port),
        "STAX_KAFKA_CONTROLLER_PORT": str(infra.kafka_controller_port),
        "STAX_POSTGRES_PORT": str(infra.postgres_port),
    }


def _last_json(output: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(output.strip().splitlines()[-1])
    return loaded


def test_grant_prints_client_settings_that_work_and_revoke_ends_them(
    infra: StackSettings, unique: str
) -> None:
    runner = CliRunner()
    granted = runner.invoke(app, ["kafka", "grant", "partner", f"cli-{unique}"], env=_env(infra))
    assert granted.exit_code == 0, granted.output
    client = _last_json(granted.stdout)
    assert client["sasl.username"] == f"partner-cli-{unique}"
    assert client["security.protocol"] == "SASL_SSL"
    assert client["sasl.mechanism"] == "SCRAM-SHA-512"
    assert set(client) == {
        "bootstrap.servers", "security.protocol", "sasl.mechanism", "sasl.username",
        "sasl.password", "ssl.ca.location",
    }  # fmt: skip
    assert connects(client)
    revoked = runner.invoke(app, ["kafka", "revoke", "partner", f"cli-{unique}"], env=_env(infra))
    assert revoked.exit_code == 0, revoked.output
    assert "3 ACLs removed" in revoked.stdout
    assert not connects(client)


def test_admin_config_is_the_admin_principal(infra: StackSettings) -> None:
    shown = CliRunner().invoke(app, ["kafka", "admin-config"], env=_env(infra))
    assert shown.exit_code == 0, shown.output
    assert _last_json(shown.stdout)["sasl.username"] == "admin"
    assert connects(_last_json(shown.stdout))


@pytest.mark.parametrize(
    "args", [["grant", "partner", "Bad.Id"], ["grant", "partner", "a"], ["grant", "vendor", "x1"]]
)
def test_a_bad_tenant_is_refused_with_a_reason(infra: StackSettings, args: list[str]) -> None:
    refused = CliRunner().invoke(app, ["kafka", *args], env=_env(infra))
    assert refused.exit_code == 2
    assert "Invalid value" in refused.output
