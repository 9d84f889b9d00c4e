"""What every route module shares: dependencies (the unit factory, the callers by role) and the
documented error answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from services.intake.unit_of_work import IntakeUnits
from shared.auth import Principal, require_role

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key's role may not do this"},
}
UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body could not be read (not UTF-8)"},
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Every bad field, {field, code, message}"},
}


async def _units(request: Request) -> IntakeUnits:
    units: IntakeUnits = request.app.state.units  # set by app.py's lifespan
    return units


Units = Annotated[IntakeUnits, Depends(_units)]


def submitter_of(who: Principal) -> str:
    assert who.submitter_id is not None, "the database keeps one on every submitter key"
    return who.submitter_id


Submitter = Annotated[Principal, Depends(require_role("submitter"))]
Reader = Annotated[Principal, Depends(require_role("submitter", "operator"))]
Partner = Annotated[Principal, Depends(require_role("partner"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
