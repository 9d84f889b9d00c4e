"""The assistance report (operators)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.intake.api.common import (
    AUTH,
    INVALID,
    Operator,
    Units,
)
from services.intake.domain import reporting
from services.intake.handlers import reports
from services.intake.schemas import (
    AssistanceReportView,
    MedianSeconds,
    PartnerFiguresView,
    ReportWindow,
    RequestCounts,
)
from shared.errors import ApiError

_CSV_LAYOUT = "\n".join(
    [
        "With `format=csv`, `text/csv`: the header `dimension,key,metric,value`, then one figure",
        "a row (an empty value is a null: no data):",
        "- `window,,from|to,<ISO time>`; `requests,,count,<n>`;",
        "- `region|party|topic|status,<code>,requests,<n>`;",
        "- `median_seconds,,to_first_offer|to_match|to_completion,<seconds>`;",
        "- `partner,<partner_id>,accepted|completed|completion_rate|rated_requests|mean_rating,"
        "<value>`;",
        "- `uncovered_topic,<code>,requests,<n>`.",
    ]
)


def install(api: APIRouter) -> None:
    @api.get(
        "/reports/assistance",
        tags=["reports"],
        response_model=AssistanceReportView,
        responses={
            **AUTH,
            **INVALID,
            200: {
                "description": "The report, as JSON or (format=csv) as CSV",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
        },
        summary="What happened to the requests accepted in a window (operator key)",
        description="Requests by region, Party, topic and status; median seconds from acceptance "
        "to the first offer, the match and completion; per partner, completion rate (completed "
        "/ accepted assignments) and mean rating (of the closed requests it completed work on); "
        "topics left uncovered. `from` and `to` take ISO dates or date-times (UTC unless they "
        "say otherwise) and bound the requests' acceptance time.\n\n" + _CSV_LAYOUT,
    )
    async def assistance(
        units: Units,
        _who: Operator,
        start: Annotated[
            datetime | None, Query(alias="from", description="Accepted from (inclusive)")
        ] = None,
        end: Annotated[datetime | None, Query(alias="to", description="Until (exclusive)")] = None,
        shape: Annotated[
            Literal["json", "csv"], Query(alias="format", description="json or csv")
        ] = "json",
    ) -> Response | AssistanceReportView:
        scope = reporting.window(start, end)
        if isinstance(scope, list):
            raise ApiError(422, scope)
        async with units() as uow:
            report = await reports.assistance(uow, scope)
        if shape == "csv":
            return Response(reporting.csv_text(report), media_type="text/csv; charset=utf-8")
        return _report_view(report)


def _report_view(report: reporting.AssistanceReport) -> AssistanceReportView:
    medians = report.median_seconds
    return AssistanceReportView(
        window=ReportWindow.model_validate({"from": report.window.start, "to": report.window.end}),
        requests=RequestCounts(
            total=report.requests,
            by_region=report.by_region,
            by_party=report.by_party,
            by_topic=report.by_topic,
            by_status=report.by_status,
        ),
        median_seconds=MedianSeconds(
            to_first_offer=medians.to_first_offer,
            to_match=medians.to_match,
            to_completion=medians.to_completion,
        ),
        partners=[PartnerFiguresView(**dataclasses.asdict(p)) for p in report.partners],
        uncovered_topics=report.uncovered_topics,
    )
