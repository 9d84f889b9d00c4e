"""notifier's HTTP routes: parse → call one handler → shape the response."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, status
from pydantic import AnyHttpUrl, BaseModel, Field

from services.notifier import handlers, repository


class EndpointIn(BaseModel):
    url: AnyHttpUrl = Field(description="Where to POST webhooks")
    event_types: list[str] = Field(
        default_factory=list, description="Event types to send; empty means all"
    )
    secret: str | None = Field(
        default=None,
        pattern=r"^whsec_[A-Za-z0-9+/=]{32,}$",
        description="whsec_ secret; generated when omitted",
    )


class EndpointCreated(BaseModel):
    endpoint_id: UUID
    secret: str = Field(description="The signing secret; shown only in this answer")


class EndpointOut(BaseModel):
    endpoint_id: UUID
    url: str
    event_types: list[str]
    enabled: bool
    created_at: datetime


def _deps(request: Request) -> handlers.NotifierDeps:
    deps: handlers.NotifierDeps = request.app.state.deps  # set by app.py's lifespan
    return deps


Deps = Annotated[handlers.NotifierDeps, Depends(_deps)]


def router() -> APIRouter:
    api = APIRouter(prefix="/v1/partners/{partner_id}", tags=["subscriptions"])

    @api.post("/endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointCreated)
    async def create(partner_id: str, body: EndpointIn, deps: Deps) -> EndpointCreated:
        made = await handlers.create_endpoint(
            deps.pool,
            partner_id=partner_id,
            url=str(body.url),
            event_types=body.event_types,
            secret=body.secret,
        )
        return EndpointCreated(endpoint_id=made.endpoint_id, secret=made.secret)

    @api.get("/endpoints", response_model=list[EndpointOut])
    async def list_(partner_id: str, deps: Deps) -> list[EndpointOut]:
        async with deps.pool.acquire() as conn:
            rows = await repository.list_endpoints(conn, partner_id)
        return [EndpointOut(**dict(r)) for r in rows]

    return api
