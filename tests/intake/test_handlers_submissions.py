"""Submissions, over HTTP and Kafka, on the in-memory unit of work: validated once, recorded once
per key, announced through the outbox (no PostgreSQL, no Kafka)."""

from __future__ import annotations

from typing import Any

import pytest

from services.intake.domain.errors import IdempotencyConflict, InvalidSubmission
from services.intake.handlers import submissions
from shared import topics
from shared.envelope import PoisonRecord
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore, fake_units
from tests.intake.samples import submission
from tests.intake.scenarios import REFERENCE, clock, data_of, submitted, types_of


async def _submit(
    store: IntakeStore, body: Any, *, submitter: str = "portal", key: str | None = None
) -> submissions.Submitted:
    return await submissions.submit_request(
        fake_units(store),
        body,
        submitter=submitter,
        idempotency_key=key,
        reference=REFERENCE,
        clock=clock,
    )


async def _consume(store: IntakeStore, envelope: Any, *, tenant: bool = False) -> None:
    handler = submissions.on_tenant_submitted if tenant else submissions.on_submitted
    async with FakeIntakeUnitOfWork(store) as uow:
        await handler(uow, envelope, envelope.data, reference=REFERENCE, clock=clock)


async def test_an_accepted_request_is_recorded_noted_and_announced_once() -> None:
    store = IntakeStore()
    done = await _submit(store, submission("r-1"))

    assert done.created
    assert types_of(store.outbox) == [(topics.REQUESTS, "ta.request.accepted")]
    data = data_of(store.outbox[0])
    assert data["request_id"] == str(done.request_id)
    assert (data["submitter"], data["region"]) == ("portal", "AFR")
    assert data["eligibility"] == {
        "developing": True,
        "economy_in_transition": False,
        "ldc": True,
        "sids": False,
    }
    assert store.requests[done.request_id].status == "accepted"
    (note,) = store.timeline.values()
    assert note.ce_id == store.outbox[0].ce_id  # the accepted event's, so noted once
    assert note.entry.summary == "accepted from portal: SEN (AFR)"


async def test_an_invalid_submission_lists_every_bad_field_and_writes_nothing() -> None:
    store = IntakeStore()
    body = submission(
        "bad",
        party="USA",
        title="x" * 301,
        topics=["PCB", "NOPE"],
        assistance_types=["lunch"],
        pops=["99"],
        languages=["pt"],
        needed_by="2001-05-22",
        contact={"name": "n", "email": "not-an-address", "organisation": "o"},
    )
    with pytest.raises(InvalidSubmission) as refused:
        await _submit(store, body)
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("party", "not_a_party"),
        ("title", "too_long"),
        ("topics.1", "unknown_topic"),
        ("assistance_types.0", "unknown_assistance_type"),
        ("pops.0", "unknown_chemical"),
        ("languages.0", "unknown_language"),
        ("needed_by", "in_the_past"),
        ("contact.email", "invalid_email"),
    }
    assert (store.requests, store.outbox, store.commits) == ({}, [], 0)


@pytest.mark.parametrize("body", [[1, 2], "text", None, 42])
async def test_a_body_that_is_not_an_object_is_one_error_about_the_body(body: object) -> None:
    with pytest.raises(InvalidSubmission) as refused:
        await _submit(IntakeStore(), body)
    assert [(e.field, e.code) for e in refused.value.errors] == [(None, "not_an_object")]


@pytest.mark.parametrize(
    ("party", "code"),
    [("XYZ", "unknown_party"), ("ISR", "not_a_party"), ("JPN", "not_eligible")],
)
async def test_the_party_must_exist_be_a_party_and_be_eligible(party: str, code: str) -> None:
    with pytest.raises(InvalidSubmission) as refused:
        await _submit(IntakeStore(), submission("p", party=party))
    assert [(e.field, e.code) for e in refused.value.errors] == [("party", code)]
    if code == "not_eligible":
        assert "developed-country Party" in refused.value.errors[0].message


async def test_an_idempotency_key_replays_the_same_request_and_refuses_another_body() -> None:
    store = IntakeStore()
    first = await _submit(store, submission("a"), key="k")
    again = await _submit(store, submission("a"), key="k")
    with pytest.raises(IdempotencyConflict):
        await _submit(store, submission("b"), key="k")

    assert (first.created, again.created) == (True, False)
    assert first.request_id == again.request_id
    assert len(store.requests) == len(store.outbox) == 1
    assert store.rollbacks == 1  # the conflicting one left nothing behind


async def test_the_same_external_ref_is_the_same_request_within_one_submitters_space() -> None:
    store = IntakeStore()
    first = await _submit(store, submission("ref"))
    again = await _submit(store, submission("ref"))
    with pytest.raises(IdempotencyConflict):
        await _submit(store, submission("ref", title="Another title"))
    theirs = await _submit(store, submission("ref"), submitter="another-portal")

    assert again.request_id == first.request_id and not again.created
    assert theirs.created and theirs.request_id != first.request_id
    assert len(store.outbox) == 2


async def test_a_kafka_submission_is_accepted_for_its_ce_source() -> None:
    store = IntakeStore()
    await _consume(store, submitted(submission("k-1"), source="/national-portal"))

    assert types_of(store.outbox) == [(topics.REQUESTS, "ta.request.accepted")]
    assert data_of(store.outbox[0])["submitter"] == "/national-portal"


async def test_an_invalid_kafka_submission_is_rejected_with_reasons_keyed_by_its_ce_id() -> None:
    store = IntakeStore()
    envelope = submitted(submission("k-bad", party="ZZZ", topics=[]))
    await _consume(store, envelope)

    assert types_of(store.outbox) == [(topics.REQUESTS, "ta.request.rejected")]
    assert store.outbox[0].key == str(envelope.id).encode()
    data = data_of(store.outbox[0])
    assert (data["external_ref"], data["submitter"]) == ("k-bad", "/portal")
    assert {(e["field"], e["code"]) for e in data["errors"]} == {
        ("party", "unknown_party"),
        ("topics", "too_few"),
    }
    assert store.requests == {}


async def test_a_kafka_resubmission_is_one_request_and_a_changed_one_a_conflict() -> None:
    store = IntakeStore()
    await _consume(store, submitted(submission("k-2")))
    await _consume(store, submitted(submission("k-2")))
    await _consume(store, submitted(submission("k-2", title="Changed title")))

    assert len(store.requests) == 1
    assert [r.headers["ce_type"] for r in store.outbox] == [
        "ta.request.accepted",
        "ta.request.rejected",
    ]
    (conflict,) = data_of(store.outbox[1])["errors"]
    assert (conflict["field"], conflict["code"]) == ("external_ref", "conflict")


async def test_a_tenants_outcomes_are_copied_to_its_outcomes_topic() -> None:
    store = IntakeStore()
    outcomes = topics.submitter_outcomes_topic("acme")
    await _consume(store, submitted(submission("t-1"), tenant="acme"), tenant=True)
    await _consume(store, submitted(submission("t-2", party="ZZZ"), tenant="acme"), tenant=True)

    assert types_of(store.outbox) == [
        (topics.REQUESTS, "ta.request.accepted"),
        (outcomes, "ta.request.accepted"),
        (topics.REQUESTS, "ta.request.rejected"),
        (outcomes, "ta.request.rejected"),
    ]
    (stored,) = store.requests.values()
    assert (stored.event.submitter, stored.outcomes_topic) == ("acme", outcomes)


@pytest.mark.parametrize("claimed", ["someone-else", ""])
async def test_a_tenant_naming_another_submitter_is_refused_whole(claimed: str) -> None:
    store = IntakeStore()
    envelope = submitted(submission("t-3") | {"submitter": claimed}, tenant="acme")
    with pytest.raises(PoisonRecord) as refused:
        await _consume(store, envelope, tenant=True)
    assert refused.value.reason == "identity_mismatch"
    assert (store.requests, store.outbox) == ({}, [])
