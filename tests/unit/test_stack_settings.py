"""How `stax init` decides which service principals to create, on a broker it did not start and
on the local one; and the services' settings the local launcher passes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from deploy.local.stack import StackSettings, _service_passwords, local_defaults, service_env
from deploy.operations.settings import OperationsError, OperationsSettings
from services.notifier.settings import NotifierSettings


def test_an_external_broker_gets_service_principals_only_when_all_passwords_are_given() -> None:
    none = OperationsSettings().model_copy(
        update={f"kafka_password_{s}": None for s in ("intake", "matcher", "notifier")}
    )
    assert none.service_passwords() is None  # e.g. Strimzi's KafkaUsers manage them
    partial = none.model_copy(update={"kafka_password_intake": SecretStr("a")})
    with pytest.raises(OperationsError, match="STAX_KAFKA_PASSWORD_MATCHER"):
        partial.service_passwords()
    full = none.model_copy(
        update={f"kafka_password_{s}": SecretStr(s * 3) for s in ("intake", "matcher", "notifier")}
    )
    assert full.service_passwords() == {
        "stax-intake": "intakeintakeintake",
        "stax-matcher": "matchermatchermatcher",
        "stax-notifier": "notifiernotifiernotifier",
    }


def test_the_local_broker_uses_the_passwords_it_made_once(tmp_path: Path) -> None:
    local = StackSettings(home=tmp_path, kafka_bootstrap_servers=None)
    first = _service_passwords(local)
    assert first is not None and set(first) >= {"stax-intake", "stax-matcher", "stax-notifier"}
    assert _service_passwords(local) == first
    assert (tmp_path / "kafka" / "credentials.json").stat().st_mode & 0o777 == 0o600


def test_the_launchers_service_defaults_are_settings_the_services_read() -> None:
    known = {f"STAX_{field.upper()}" for field in NotifierSettings.model_fields}
    defaults = local_defaults()
    assert defaults and set(defaults) <= known


def test_the_environment_wins_over_the_launchers_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAX_NOTIFIER_SMTP_PORT", "2525")
    env = service_env(StackSettings(home=tmp_path, kafka_bootstrap_servers=None), "notifier")
    assert env["STAX_NOTIFIER_SMTP_PORT"] == "2525"
    assert env["STAX_NOTIFIER_ALLOW_SUBNETS"] == local_defaults()["STAX_NOTIFIER_ALLOW_SUBNETS"]


def test_intake_and_notifier_share_one_answer_link_secret_per_home(tmp_path: Path) -> None:
    cfg = StackSettings(home=tmp_path, kafka_bootstrap_servers=None, intake_port=18001)
    intake, notifier = service_env(cfg, "intake"), service_env(cfg, "notifier")
    secret = intake["STAX_ANSWER_LINK_SECRET"]
    assert len(secret) >= 40 and notifier["STAX_ANSWER_LINK_SECRET"] == secret
    assert intake["STAX_PUBLIC_URL"] == notifier["STAX_PUBLIC_URL"] == "http://127.0.0.1:18001"
    assert (tmp_path / "answer-link-secret").stat().st_mode & 0o777 == 0o600
    assert service_env(cfg, "notifier")["STAX_ANSWER_LINK_SECRET"] == secret  # kept
    other = StackSettings(home=tmp_path / "other", kafka_bootstrap_servers=None)
    assert service_env(other, "intake")["STAX_ANSWER_LINK_SECRET"] != secret
    assert "STAX_ANSWER_LINK_SECRET" not in service_env(cfg, "matcher")
