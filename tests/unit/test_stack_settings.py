"""How `stax init` decides which service principals to create on a broker it did not start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from deploy.local.stack import StackError, StackSettings, _service_passwords


def test_an_external_broker_gets_service_principals_only_when_all_passwords_are_given(
    tmp_path: Path,
) -> None:
    external = StackSettings(home=tmp_path, kafka_bootstrap_servers="kafka:9092")
    assert _service_passwords(external) is None  # e.g. Strimzi's KafkaUsers manage them
    partial = external.model_copy(update={"kafka_password_intake": SecretStr("a")})
    with pytest.raises(StackError, match="STAX_KAFKA_PASSWORD_MATCHER"):
        _service_passwords(partial)
    full = external.model_copy(
        update={f"kafka_password_{s}": SecretStr(s * 3) for s in ("intake", "matcher", "notifier")}
    )
    assert _service_passwords(full) == {
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
