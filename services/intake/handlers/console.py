"""What the operator console reads from intake's own data: the report's facts, then pure
arithmetic (domain.console)."""

from __future__ import annotations

from datetime import datetime

from services.intake.domain import console
from services.intake.domain.model import RequestStatus
from services.intake.domain.reporting import RequestFacts, Window
from services.intake.unit_of_work import IntakeUnitOfWork


async def overview(uow: IntakeUnitOfWork, since: datetime) -> console.Overview:
    """The requests accepted since `since`: by status, and their time to a first offer."""
    facts, _ = await uow.reports.assistance_facts(Window(start=since))
    return console.overview(facts, since)


async def requests(
    uow: IntakeUnitOfWork, since: datetime, status: RequestStatus | None
) -> list[RequestFacts]:
    """The requests of one status (or all) accepted since `since`, newest first."""
    facts, _ = await uow.reports.assistance_facts(Window(start=since))
    return console.newest(facts, status)
