"""Closing a request on the in-memory unit of work: who may, when, and only once."""

from __future__ import annotations

from uuid import UUID

import pytest

from services.intake.domain.errors import NotClosable, UnknownRequest
from services.intake.domain.model import RequestStatus
from services.intake.handlers import closing
from shared import topics
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore
from tests.intake.scenarios import accepted, clock, data_of


async def _close(
    store: IntakeStore, request_id: UUID, submitter: str | None, rating: int | None = 4
) -> bool:
    async with FakeIntakeUnitOfWork(store) as uow:
        return await closing.ask_closing(
            uow,
            request_id,
            closed_by="submitter" if submitter else "operator",
            submitter=submitter,
            rating=rating,
            comment="useful",
            clock=clock,
        )


async def _request(store: IntakeStore, status: RequestStatus) -> UUID:
    request_id = await accepted(store, ref=f"r-{status}")
    store.requests[request_id].status = status
    return request_id


def _closings(store: IntakeStore) -> list[dict[str, object]]:
    return [
        data_of(r)
        for r in store.outbox
        if r.topic == topics.REQUESTS and r.headers["ce_type"] == "ta.request.closing"
    ]


@pytest.mark.parametrize("status", ["completed", "unmatched", "waiting"])
async def test_the_submitter_closes_a_request_nobody_works_on_once(status: RequestStatus) -> None:
    store = IntakeStore()
    request_id = await _request(store, status)
    submitter = store.requests[request_id].event.submitter

    assert await _close(store, request_id, submitter, rating=5)
    assert not await _close(store, request_id, submitter, rating=1)  # asked already

    assert _closings(store) == [
        {
            "request_id": str(request_id),
            "closed_by": "submitter",
            "rating": 5,
            "comment": "useful",
        }
    ]


@pytest.mark.parametrize("status", ["accepted", "matching", "matched"])
async def test_a_request_partners_work_on_is_not_closed(status: RequestStatus) -> None:
    store = IntakeStore()
    request_id = await _request(store, status)
    with pytest.raises(NotClosable, match=f"the request is {status}"):
        await _close(store, request_id, None, rating=None)
    assert _closings(store) == []


async def test_another_submitters_request_is_not_found_and_an_operator_may_close_any() -> None:
    store = IntakeStore()
    request_id = await _request(store, "completed")
    with pytest.raises(UnknownRequest):
        await _close(store, request_id, "someone-else")
    assert await _close(store, request_id, None, rating=None)
    assert _closings(store)[0]["closed_by"] == "operator"
