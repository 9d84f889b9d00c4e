from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from services.notifier.domain import (
    AttemptResult,
    Subscriber,
    minimised,
    next_attempt,
    webhook_body,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
FAILED = AttemptResult(ok=False, error="HTTP 500")


def test_retry_follows_the_schedule_within_twenty_percent_jitter() -> None:
    for _ in range(200):
        at = next_attempt([0, 5, 300], 1, NOW, FAILED)
        assert at is not None
        assert timedelta(seconds=4) <= at - NOW <= timedelta(seconds=6)


def test_retry_after_lengthens_the_wait_but_never_shortens_it() -> None:
    longer = next_attempt([0, 5], 1, NOW, AttemptResult(ok=False, retry_after=60))
    shorter = next_attempt([0, 300], 1, NOW, AttemptResult(ok=False, retry_after=1))
    assert longer is not None and longer - NOW == timedelta(seconds=60)
    assert shorter is not None and shorter - NOW >= timedelta(seconds=240)


def test_an_exhausted_schedule_means_no_more_attempts() -> None:
    assert next_attempt([0, 5], 2, NOW, FAILED) is None


def test_webhook_body_follows_standard_webhooks_shape() -> None:
    body = json.loads(webhook_body("ta.assignment.offered", NOW, {"a": 1}))
    assert body == {"type": "ta.assignment.offered", "timestamp": NOW.isoformat(), "data": {"a": 1}}


def test_an_endpoint_without_filter_wants_everything() -> None:
    assert Subscriber(uuid4(), []).wants("ta.assignment.offered")
    assert not Subscriber(uuid4(), ["ta.request.matched"]).wants("ta.assignment.offered")


def test_stored_event_data_keeps_of_the_contact_only_the_name_the_mail_greets() -> None:
    contact = {"name": "A. Ndiaye", "email": "a@example.sn", "organisation": "Ministry"}
    data = {"request_id": "r", "party": "SEN", "contact": contact}

    assert minimised(data) == {"request_id": "r", "party": "SEN", "contact": {"name": "A. Ndiaye"}}
    assert minimised({"request_id": "r"}) == {"request_id": "r"}  # events without a contact
