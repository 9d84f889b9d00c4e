"""The README's configuration table stays true: every setting the code reads is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from deploy.local.stack import StackSettings
from services.intake.settings import IntakeSettings
from services.matcher.settings import MatcherSettings
from services.notifier.settings import NotifierSettings
from shared.kafka_acls import table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DOCUMENTED = set(re.findall(r"`(STAX_[A-Z_]+)`", README))


@pytest.mark.parametrize(
    "settings", [IntakeSettings, MatcherSettings, NotifierSettings, StackSettings]
)
def test_every_setting_is_in_the_readme(settings: type[BaseSettings]) -> None:
    names = {f"STAX_{field.upper()}" for field in settings.model_fields}
    assert sorted(names - DOCUMENTED) == []


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    known = {
        f"STAX_{field.upper()}"
        for settings in (IntakeSettings, MatcherSettings, NotifierSettings, StackSettings)
        for field in settings.model_fields
    } | {"STAX_TEST_PORT_BASE", "STAX_BENCH_PORT_BASE"}
    assert sorted(DOCUMENTED - known) == []


def test_the_readme_lists_every_kafka_acl() -> None:
    for principal, acl in table():
        prefix = " (prefix)" if acl.pattern == "prefixed" else ""
        row = f"| `{principal}` | {acl.resource} `{acl.name}`{prefix} | {acl.operation.upper()} |"
        assert row in README, row
