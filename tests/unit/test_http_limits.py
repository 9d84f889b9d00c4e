"""The rate limit setting is checked at start, a budget is counted per bucket, and expired
buckets are swept without a thread per request."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.matcher.settings import MatcherSettings
from services.notifier.settings import NotifierSettings
from shared import http_limits
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


def test_expired_buckets_are_swept_by_a_timer_a_second_not_a_thread_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timers: list[threading.Thread] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        timers.append(thread)
        start(thread)

    limit = RateLimit("1000/second")
    monkeypatch.setattr(threading.Thread, "start", counted)
    for n in range(30):  # 0.6 s of requests, each after limits' own 10 ms timer would have run
        assert limit.hit(f"bucket-{n}") is None
        time.sleep(0.02)
    # One sweep timer running, none started again while it waits. (limits' MemoryStorage alone
    # starts one per request here: 30. A renamed private hook in limits fails this test.)
    assert len(timers) <= 1


def test_the_sweep_still_removes_expired_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_limits, "SWEEP_SECONDS", 0.05)
    storage = http_limits.SweptMemoryStorage()
    time.sleep(0.05)  # the storage's first timer (limits' own, at start) has run
    storage.incr("bucket", expiry=0.01)
    assert "bucket" in storage.storage
    deadline = time.monotonic() + 2
    while "bucket" in storage.storage and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "bucket" not in storage.storage
    assert storage.timer.daemon  # a stopping process never waits for a sweep
