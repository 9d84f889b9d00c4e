"""matcher's HTTP routes: the partner registry, for operators (`/v1/partners`).

Each route parses, authorises, opens a unit of work, calls one handler and answers; the
registry's refusals become the one error body (`ApiError`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from services.matcher.domain import (
    InvalidPartner,
    PartnerExists,
    PartnerNotFound,
    PartnerPatch,
    PartnerSpec,
    RegisteredPartner,
)
from services.matcher.handlers import partners
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.schemas import PartnerView
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits
from shared.auth import Principal, require_role
from shared.errors import ApiError

Operator = Annotated[Principal, Depends(require_role("operator"))]


def _view(found: RegisteredPartner) -> PartnerView:
    return PartnerView(
        **found.spec.model_dump(),
        open_assignments=found.open_assignments,
        operator_edited=found.operator_edited,
        updated_at=found.updated_at,
    )


@asynccontextmanager
async def _unit(request: Request) -> AsyncIterator[MatcherUnitOfWork]:
    """A unit of work for one route, committed before the answer is sent; the registry's
    refusals roll it back and become the one error body."""
    units: MatcherUnits = request.app.state.units  # set in app.py's lifespan
    try:
        async with units() as uow:
            yield uow
    except InvalidPartner as exc:
        raise ApiError(422, exc.errors) from exc
    except PartnerNotFound as exc:
        message = f"no partner {exc.partner_id!r}"
        raise ApiError.one(404, "not_found", message, field="partner_id") from exc
    except PartnerExists as exc:
        message = f"partner {exc.partner_id!r} exists; PATCH it instead"
        raise ApiError.one(409, "exists", message, field="partner_id") from exc


def _catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.catalog  # set in app.py
    return catalog


Reference = Annotated[Catalog, Depends(_catalog)]


def _matching(request: Request) -> Matching:
    matching: Matching = request.app.state.matching  # set in app.py
    return matching


Matchmaking = Annotated[Matching, Depends(_matching)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or unknown API key"},
    403: {"description": "Not an operator key"},
    422: {"description": "Invalid partner: `{errors: [{field, code, message}]}`"},
}

router = APIRouter(prefix="/v1/partners", tags=["partners"], responses=_ERRORS)


@router.get("", summary="List partners (optionally only active or inactive ones)")
async def list_partners(
    _: Operator, request: Request, catalog: Reference, active: bool | None = None
) -> dict[str, list[PartnerView]]:
    async with _unit(request) as uow:
        found = await partners.list_partners(uow, catalog, active)
    return {"partners": [_view(p) for p in found]}


@router.post("", status_code=201, summary="Add a partner", responses={409: {}})
async def create_partner(
    _: Operator, request: Request, catalog: Reference, spec: PartnerSpec
) -> PartnerView:
    async with _unit(request) as uow:
        return _view(await partners.create_partner(uow, catalog, spec))


@router.get("/{partner_id}", summary="One partner", responses={404: {}})
async def get_partner(_: Operator, request: Request, partner_id: str) -> PartnerView:
    async with _unit(request) as uow:
        return _view(await partners.get_partner(uow, partner_id))


@router.patch(
    "/{partner_id}",
    summary="Change some fields (active=false deactivates); room made goes to waiting requests",
)
async def update_partner(
    _: Operator, request: Request, matching: Matchmaking, partner_id: str, patch: PartnerPatch
) -> PartnerView:
    async with _unit(request) as uow:
        return _view(await partners.edit_partner(uow, matching, partner_id, patch))


@router.delete("/{partner_id}", summary="Deactivate a partner (kept, never offered work)")
async def deactivate_partner(
    _: Operator, request: Request, catalog: Reference, partner_id: str
) -> PartnerView:
    patch = PartnerPatch(active=False)
    async with _unit(request) as uow:
        return _view(await partners.update_partner(uow, catalog, partner_id, patch))


def install(app: FastAPI) -> None:
    app.include_router(router)
