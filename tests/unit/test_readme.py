"""The README stays true: every setting the code reads and every command of `stax` and
`stax-local` is documented, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from pydantic_settings import BaseSettings

from deploy.local import cli as local_cli
from deploy.local.stack import StackSettings
from deploy.operations import cli as operations_cli
from deploy.operations.settings import OperationsSettings
from services.intake.settings import IntakeSettings
from services.matcher.settings import MatcherSettings
from services.notifier.settings import NotifierSettings
from shared.kafka_acls import table

README_PATH = Path(__file__).resolve().parents[2] / "README.md"
README = README_PATH.read_text()
DOCUMENTED = set(re.findall(r"`(STAX_[A-Z_]+)`", README))


ALL_SETTINGS = (
    IntakeSettings,
    MatcherSettings,
    NotifierSettings,
    OperationsSettings,
    StackSettings,
)


@pytest.mark.parametrize("settings", ALL_SETTINGS)
def test_every_setting_is_in_the_readme(settings: type[BaseSettings]) -> None:
    names = {f"STAX_{field.upper()}" for field in settings.model_fields}
    assert sorted(names - DOCUMENTED) == []


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {
        f"STAX_{field.upper()}" for settings in ALL_SETTINGS for field in settings.model_fields
    } | set(TEST_AND_BENCH_VARIABLES)
    assert sorted(DOCUMENTED - known) == []


# Read by the test session, the benchmarks and deploy-test, not by a settings class.
TEST_AND_BENCH_VARIABLES = {
    "STAX_TEST_PORT_BASE": "tests/conftest.py",
    "STAX_TEST_BACKEND": "tests/conftest.py",
    "STAX_BENCH_PORT_BASE": "bench/common.py",
    "STAX_DEPLOY_PORT_BASE": "tests/containers/test_deploy_scaled.py",
    "STAX_CHROMIUM": "tests/browser/conftest.py",
    "STAX_SCREENSHOTS": "tests/browser/conftest.py",
}


def test_the_test_and_bench_variables_are_read_where_the_readme_says() -> None:
    root = Path(__file__).resolve().parents[2]
    for name, reader in TEST_AND_BENCH_VARIABLES.items():
        assert f'"{name}"' in (root / reader).read_text(), (name, reader)


def test_the_readme_lists_every_kafka_acl() -> None:
    for principal, acl in table():
        prefix = " (prefix)" if acl.pattern == "prefixed" else ""
        row = f"| `{principal}` | {acl.resource} `{acl.name}`{prefix} | {acl.operation.upper()} |"
        assert row in README, row


def _commands(app: typer.Typer, path: str) -> dict[str, typer.Typer | None]:
    """Every command path of a Typer app ("stax keys create"), groups mapped to their app."""
    found: dict[str, typer.Typer | None] = {}
    for command in app.registered_commands:
        found[f"{path} {command.name}"] = None
    for group in app.registered_groups:
        assert group.typer_instance is not None
        found[f"{path} {group.name}"] = group.typer_instance
        found |= _commands(group.typer_instance, f"{path} {group.name}")
    return found


CLIS = {"stax": operations_cli.app, "stax-local": local_cli.app}
KNOWN = {path: app for name, cli in CLIS.items() for path, app in _commands(cli, name).items()}


def _resolve(words: list[str]) -> list[str]:
    """The command paths a documented invocation names (`start\\|stop` names two)."""
    paths = [words[0]]
    for word in words[1:]:
        if not any(p in CLIS or KNOWN.get(p) is not None for p in paths):
            break  # past the command: arguments and options
        paths = [f"{p} {alt}" for p in paths for alt in word.split("\\|")]
    return paths


def _documented(calls: list[str]) -> set[str]:
    """The command paths called (of `stax` or `stax-local`; not principals like stax-intake)."""
    words = (call.split() for call in calls)
    return {path for call in words if len(call) > 1 and call[0] in CLIS for path in _resolve(call)}


def _readme_calls() -> list[str]:
    """The invocations in the first column of the README's command tables."""
    rows = (line for line in README.splitlines() if line.startswith("| `stax"))
    first_cells = (re.split(r"(?<!\\)\|", row)[1] for row in rows)
    return [call for cell in first_cells for call in re.findall(r"`(stax[^`]*)`", cell)]


def test_the_readme_documents_every_command_and_no_other() -> None:
    documented = _documented(_readme_calls())
    commands = {path for path, group in KNOWN.items() if group is None}
    assert sorted(documented - set(KNOWN)) == []
    assert sorted(commands - documented) == []


def test_the_makefile_calls_existing_commands() -> None:
    makefile = (README_PATH.parent / "Makefile").read_text()
    called = _documented(re.findall(r"\$\(BIN\)/(stax[a-z -]*)", makefile))
    assert called and sorted(called - set(KNOWN)) == []
