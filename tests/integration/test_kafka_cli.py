"""`stax kafka` as an operator types it: grant prints working client settings on its last line,
revoke makes them useless, admin-config prints the admin's; `stax-local ops` points them at the
local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deploy.local.stack import StackSettings, admin_env
from deploy.operations.cli import app
from tests.tenants import connects


def _env(infra: StackSettings) -> dict[str, str]:
    """The admin's STAX_KAFKA_* settings, as an installation gives them to `stax`."""
    return admin_env(infra)


def _local_env(infra: StackSettings) -> dict[str, str]:
    """What makes `stax-local` find the test stack (its folder and ports)."""
    return {
        "STAX_HOME": str(infra.home),
        "STAX_KAFKA_PORT": str(infra.kafka_port),
        "STAX_KAFKA_CONTROLLER_PORT": str(infra.kafka_controller_port),
        "STAX_POSTGRES_PORT": str(infra.postgres_port),
        "STAX_INTAKE_PORT": str(infra.intake_port),
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


def test_the_launcher_runs_operations_on_its_own_stack(infra: StackSettings) -> None:
    """`stax-local ops …` is `stax …` as the local stack's admin (a process, as typed)."""
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("stax-local")), "ops", "kafka", "admin-config"],
        env={**os.environ, **_local_env(infra)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert _last_json(shown.stdout) == infra.kafka_access().librdkafka()


@pytest.mark.parametrize(
    "args", [["grant", "partner", "Bad.Id"], ["grant", "partner", "a"], ["grant", "vendor", "x1"]]
)
def test_a_bad_tenant_is_refused_with_a_reason(infra: StackSettings, args: list[str]) -> None:
    refused = CliRunner().invoke(app, ["kafka", *args], env=_env(infra))
    assert refused.exit_code == 2
    assert "Invalid value" in refused.output
