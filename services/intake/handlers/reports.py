"""The assistance report: the figures of the requests accepted in a window (operators)."""

from __future__ import annotations

from services.intake.domain.reporting import AssistanceReport, Window, assistance_report
from services.intake.unit_of_work import IntakeUnitOfWork


async def assistance(uow: IntakeUnitOfWork, scope: Window) -> AssistanceReport:
    """One read of a few columns per request, then pure arithmetic (domain.reporting)."""
    requests, work = await uow.reports.assistance_facts(scope)
    return assistance_report(scope, requests, work)
