"""matcher's HTTP routes: the partner registry, for operators (`/v1/partners`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from services.matcher.admin import (
    Conflict,
    Invalid,
    NotFound,
    PartnerAdmin,
    PartnerPatch,
)
from services.matcher.domain import PartnerSpec
from services.matcher.partner_repository import PartnerRow
from shared import http_errors
from shared.auth import Principal, require_role
from shared.events import FieldError

Operator = Annotated[Principal, Depends(require_role("operator"))]


class PartnerView(PartnerSpec):
    """A partner as the registry holds it, with its current load."""

    open_assignments: int
    operator_edited: bool
    updated_at: datetime


def _view(row: PartnerRow) -> PartnerView:
    return PartnerView(
        **row.spec.model_dump(),
        open_assignments=row.open_assignments,
        operator_edited=row.operator_edited,
        updated_at=row.updated_at,
    )


async def _admin(request: Request) -> PartnerAdmin:
    admin: PartnerAdmin = request.app.state.partner_admin  # set in app.py's lifespan
    return admin


Admin = Annotated[PartnerAdmin, Depends(_admin)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown API key"},
    403: {"description": "Not an operator key"},
    422: {"description": "Invalid partner: `{errors: [{field, code, message}]}`"},
}

router = APIRouter(prefix="/v1/partners", tags=["partners"], responses=_ERRORS)


@router.get("", summary="List partners (optionally only active or inactive ones)")
async def list_partners(
    _: Operator, admin: Admin, active: bool | None = None
) -> dict[str, list[PartnerView]]:
    return {"partners": [_view(r) for r in await admin.list(active)]}


@router.post("", status_code=201, summary="Add a partner", responses={409: {}})
async def create_partner(_: Operator, admin: Admin, spec: PartnerSpec) -> PartnerView:
    return _view(await admin.create(spec))


@router.get("/{partner_id}", summary="One partner", responses={404: {}})
async def get_partner(_: Operator, admin: Admin, partner_id: str) -> PartnerView:
    return _view(await admin.get(partner_id))


@router.patch("/{partner_id}", summary="Change some fields (active=false deactivates)")
async def update_partner(
    _: Operator, admin: Admin, partner_id: str, patch: PartnerPatch
) -> PartnerView:
    return _view(await admin.update(partner_id, patch))


@router.delete("/{partner_id}", summary="Deactivate a partner (kept, never offered work)")
async def deactivate_partner(_: Operator, admin: Admin, partner_id: str) -> PartnerView:
    return _view(await admin.update(partner_id, PartnerPatch(active=False)))


def install(app: FastAPI) -> None:
    """The routes, and errors as `{errors: [{field, code, message}]}` (style guide §7)."""
    app.include_router(router)

    @app.exception_handler(Invalid)
    async def _refused(_: Request, exc: Invalid) -> JSONResponse:
        return http_errors.answer(422, exc.errors)

    @app.exception_handler(NotFound)
    async def _missing(_: Request, exc: NotFound) -> JSONResponse:
        message = f"no partner {exc.args[0]!r}"
        return http_errors.answer(
            404, [FieldError(field="partner_id", code="not_found", message=message)]
        )

    @app.exception_handler(Conflict)
    async def _taken(_: Request, exc: Conflict) -> JSONResponse:
        message = f"partner {exc.args[0]!r} exists; PATCH it instead"
        return http_errors.answer(
            409, [FieldError(field="partner_id", code="exists", message=message)]
        )
