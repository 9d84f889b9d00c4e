"""The rate limit setting is checked at start, and a budget is counted per bucket."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.matcher.settings import MatcherSettings
from services.notifier.settings import NotifierSettings
from shared.http_limits import DEFAULT_MAX_BODY_BYTES, RateLimit, too_many_requests


@pytest.mark.parametrize("settings", [IntakeSettings, MatcherSettings, NotifierSettings])
def test_a_rate_limit_that_is_not_a_limits_string_stops_the_start(
    settings: type[IntakeSettings | MatcherSettings | NotifierSettings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAX_RATE_LIMIT", "a lot")
    with pytest.raises(ValidationError, match="rate_limit"):
        settings()
    monkeypatch.setenv("STAX_RATE_LIMIT", "20/minute")
    assert settings().rate_limit == "20/minute"


def test_every_service_limits_bodies_to_64_kib_unless_told_otherwise() -> None:
    assert DEFAULT_MAX_BODY_BYTES == 64 * 1024
    assert IntakeSettings().intake_max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert MatcherSettings().matcher_max_body_bytes == DEFAULT_MAX_BODY_BYTES
    assert NotifierSettings().notifier_max_body_bytes == DEFAULT_MAX_BODY_BYTES


def test_each_bucket_has_its_own_budget_and_past_it_learns_how_long_to_wait() -> None:
    limit = RateLimit("3/hour")
    assert [limit.hit("key:a") for _ in range(3)] == [None, None, None]
    wait = limit.hit("key:a")
    assert wait is not None and 0 < wait <= 3600
    assert limit.hit("key:b") is None


def test_a_429_says_when_to_retry_in_whole_seconds_and_in_the_errors_shape() -> None:
    answer = too_many_requests(0.2)
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "1"  # never 0: that would invite a retry storm
    assert answer.body == (
        b'{"errors":[{"field":null,"code":"rate_limited",'
        b'"message":"too many requests; retry in 1 s"}]}'
    )
