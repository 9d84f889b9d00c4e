"""Erasure on the in-memory unit of work: once, everywhere intake keeps the contact."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.intake.domain.errors import UnknownRequest
from services.intake.handlers import erasure, tracking
from shared import topics
from shared.envelope import OutgoingRecord, build_record
from shared.events import Channel, NotificationFailed, RequestErased
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore
from tests.intake.scenarios import NOW, accepted, data_of, envelope_of


async def _erase(store: IntakeStore, request_id: UUID, at: datetime = NOW) -> datetime:
    async with FakeIntakeUnitOfWork(store) as uow:
        return await erasure.erase_request(uow, request_id, clock=lambda: at)


def _erasures(store: IntakeStore) -> list[dict[str, object]]:
    return [data_of(r) for r in store.outbox if r.headers["ce_type"] == "ta.request.erased"]


async def test_an_erasure_blanks_the_contact_and_is_announced_once() -> None:
    store = IntakeStore()
    request_id = await accepted(store)

    first = await _erase(store, request_id)
    again = await _erase(store, request_id, at=NOW + timedelta(hours=1))

    assert first == again == NOW  # asking again answers with the first erasure's time
    stored = store.requests[request_id]
    assert "contact" not in stored.submission and stored.submission["party"] == "SEN"
    assert _erasures(store) == [
        {"request_id": str(request_id), "erased_at": "2026-11-27T09:30:00Z"}
    ]
    erased = [n for n in store.timeline.values() if n.entry.event_type == "ta.request.erased"]
    assert len(erased) == 1


async def test_an_unknown_request_cannot_be_erased() -> None:
    store = IntakeStore()
    with pytest.raises(UnknownRequest):
        await _erase(store, uuid4())
    assert store.outbox == []


async def test_the_erased_event_redacts_the_queued_contact_and_notification_errors() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    failed = NotificationFailed(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id="unido",
        channel=Channel.EMAIL,
        attempts=5,
        last_error="550 a.ndiaye@example.sn unknown",
    )
    async with FakeIntakeUnitOfWork(store) as uow:
        await tracking.on_notification(uow, envelope_of(failed, request_id), failed)
        await uow.emit([_queued(failed, request_id)])
    event = RequestErased(request_id=request_id, erased_at=NOW)

    async with FakeIntakeUnitOfWork(store) as uow:
        await erasure.on_erased(uow, envelope_of(event, request_id), event)

    accepted_data = next(data_of(r) for r in store.outbox if r.topic == topics.REQUESTS)
    assert "contact" not in accepted_data and accepted_data["party"] == "SEN"
    failed_data = next(data_of(r) for r in store.outbox if r.topic == topics.NOTIFICATIONS)
    assert "last_error" not in failed_data
    summaries = [n.entry.summary for n in store.timeline.values()]
    assert "notifying unido by email failed after 5 attempt(s): (erased)" in summaries
    assert not any("example.sn" in s for s in summaries)
    assert "contact" not in store.requests[request_id].submission


def _queued(event: NotificationFailed, request_id: UUID) -> OutgoingRecord:
    """A notification outcome in intake's outbox, keyed by its request like every other."""
    return build_record(event, source="/stax/test", subject=str(request_id), time=NOW)
