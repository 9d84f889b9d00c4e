"""notifier's HTTP routes: parse → authorise → open a unit → call one handler → answer.

Subscriptions (`/v1/partners/{partner_id}/…`): an operator key for any partner, a partner key for
its own partner id only (403 otherwise). Deliveries (`/v1/deliveries…`): operators; a partner key
may list its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from services.notifier import domain
from services.notifier.adapters import TopicWritable, UrlGuard
from services.notifier.handlers import contacts, deliveries, endpoints, kafka_channel
from services.notifier.schemas import (
    PARTNER_ID,
    ContactIn,
    ContactOut,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    KafkaChannelIn,
    KafkaChannelOut,
    RecoverIn,
    RecoverOut,
    Rotated,
    RotateIn,
    Status,
)
from services.notifier.unit_of_work import NotifierUnits
from shared.auth import Principal, require_role
from shared.errors import ApiError, for_status


@dataclass(frozen=True)
class ApiDeps:
    """What the routes hand their handlers; built in app.py, kept in `app.state.notifier`."""

    units: NotifierUnits
    guard: UrlGuard
    topic_writable: TopicWritable
    clock: Callable[[], datetime]
    secret_overlap_seconds: float
    quotas: domain.Quotas

    def overlap_until(self) -> datetime:
        """Until when a secret replaced now still signs."""
        return self.clock() + timedelta(seconds=self.secret_overlap_seconds)


async def _deps(request: Request) -> ApiDeps:
    deps: ApiDeps = request.app.state.notifier
    return deps


Deps = Annotated[ApiDeps, Depends(_deps)]
Operator = Annotated[Principal, Depends(require_role("operator"))]
PartnerId = Annotated[str, Path(pattern=PARTNER_ID, description="The partner's id")]


async def _partner_scope(
    partner_id: PartnerId,
    principal: Annotated[Principal, Depends(require_role("operator", "partner"))],
) -> str:
    """Operators act for any partner; a partner key only for its own partner id."""
    if principal.role == "partner" and principal.partner_id != partner_id:
        raise HTTPException(403, f"this key belongs to partner {principal.partner_id!r}")
    return partner_id


Scope = Annotated[str, Depends(_partner_scope)]


def _answer(refusal: Exception) -> ApiError:
    """A handler's refusal (domain.errors) as the error body."""
    if isinstance(refusal, domain.Refused):
        return ApiError.one(422, refusal.code, str(refusal), field="url")
    if isinstance(refusal, domain.OverQuota):
        # The partner (path) is at fault, not a body field.
        return ApiError.one(422, "quota_exceeded", str(refusal), field="partner_id")
    status = 404 if isinstance(refusal, domain.NotFound) else 409
    return ApiError(status, for_status(status, str(refusal)))


REFUSALS = (
    domain.Refused,
    domain.OverQuota,
    domain.NotFound,
    domain.NoKafkaTenant,
    domain.AlreadyPending,
)


@contextmanager
def refusals_answered() -> Iterator[None]:
    """Inside it, a handler's refusal becomes the answer it stands for."""
    try:
        yield
    except REFUSALS as refusal:
        raise _answer(refusal) from refusal


def _out(endpoint: domain.Endpoint) -> EndpointOut:
    return EndpointOut.model_validate(endpoint, from_attributes=True)


def subscriptions_router() -> APIRouter:
    api = APIRouter(prefix="/v1/partners/{partner_id}", tags=["subscriptions"])
    _endpoint_routes(api)
    _rotation_route(api)
    _contact_routes(api)
    _kafka_channel_routes(api)
    return api


def _endpoint_routes(api: APIRouter) -> None:
    @api.post("/endpoints", status_code=201, response_model=EndpointCreated)
    async def create_endpoint(partner_id: Scope, body: EndpointIn, deps: Deps) -> EndpointCreated:
        with refusals_answered():
            made = await endpoints.create_endpoint(
                deps.units,
                deps.guard,
                deps.quotas,
                partner_id=partner_id,
                url=str(body.url),
                event_types=body.event_types,
                secret=body.secret,
            )
        return EndpointCreated(endpoint_id=made.endpoint_id, secret=made.secret)

    @api.get("/endpoints", response_model=list[EndpointOut])
    async def list_endpoints(partner_id: Scope, deps: Deps) -> list[EndpointOut]:
        async with deps.units() as uow:
            found = await endpoints.list_endpoints(uow, partner_id)
        return [_out(e) for e in found]

    @api.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
    async def get_endpoint(partner_id: Scope, endpoint_id: UUID, deps: Deps) -> EndpointOut:
        with refusals_answered():
            async with deps.units() as uow:
                found = await endpoints.get_endpoint(uow, partner_id, endpoint_id)
        return _out(found)

    @api.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
    async def patch_endpoint(
        partner_id: Scope, endpoint_id: UUID, body: EndpointPatch, deps: Deps
    ) -> EndpointOut:
        changes = domain.EndpointChanges(
            url=None if body.url is None else str(body.url),
            event_types=body.event_types,
            enabled=body.enabled,
        )
        with refusals_answered():
            changed = await endpoints.update_endpoint(
                deps.units, deps.guard, partner_id, endpoint_id, changes
            )
        return _out(changed)

    @api.delete("/endpoints/{endpoint_id}", status_code=204)
    async def delete_endpoint(partner_id: Scope, endpoint_id: UUID, deps: Deps) -> Response:
        with refusals_answered():
            async with deps.units() as uow:
                await endpoints.delete_endpoint(uow, partner_id, endpoint_id)
        return Response(status_code=204)


def _rotation_route(api: APIRouter) -> None:
    @api.post("/endpoints/{endpoint_id}/rotate", response_model=Rotated)
    async def rotate(
        partner_id: Scope, endpoint_id: UUID, deps: Deps, body: RotateIn | None = None
    ) -> Rotated:
        secret = body.secret if body is not None else None
        with refusals_answered():
            async with deps.units() as uow:
                done = await endpoints.rotate_secret(
                    uow, partner_id, endpoint_id, secret, overlap_until=deps.overlap_until()
                )
        return Rotated(secret=done.secret, previous_secret_valid_until=done.previous_valid_until)


def _contact_routes(api: APIRouter) -> None:
    @api.post("/contacts", status_code=201, response_model=ContactOut)
    async def create_contact(partner_id: Scope, body: ContactIn, deps: Deps) -> ContactOut:
        with refusals_answered():
            async with deps.units() as uow:
                made = await contacts.create_contact(
                    uow,
                    deps.quotas,
                    partner_id=partner_id,
                    email=str(body.email),
                    name=body.name,
                    language=body.language,
                    event_types=body.event_types,
                )
        return ContactOut.model_validate(made, from_attributes=True)

    @api.get("/contacts", response_model=list[ContactOut])
    async def list_contacts(partner_id: Scope, deps: Deps) -> list[ContactOut]:
        async with deps.units() as uow:
            found = await contacts.list_contacts(uow, partner_id)
        return [ContactOut.model_validate(c, from_attributes=True) for c in found]

    @api.delete("/contacts/{contact_id}", status_code=204)
    async def delete_contact(partner_id: Scope, contact_id: UUID, deps: Deps) -> Response:
        with refusals_answered():
            async with deps.units() as uow:
                await contacts.delete_contact(uow, partner_id, contact_id)
        return Response(status_code=204)


def _kafka_channel_routes(api: APIRouter) -> None:
    @api.put("/kafka-channel", response_model=KafkaChannelOut)
    async def enable_channel(
        partner_id: Scope, deps: Deps, _operator: Operator, body: KafkaChannelIn | None = None
    ) -> KafkaChannelOut:
        event_types = body.event_types if body is not None else []
        with refusals_answered():
            channel = await kafka_channel.enable_channel(
                deps.units, deps.topic_writable, partner_id, event_types
            )
        return KafkaChannelOut.model_validate(channel, from_attributes=True)

    @api.get("/kafka-channel", response_model=KafkaChannelOut)
    async def get_channel(partner_id: Scope, deps: Deps) -> KafkaChannelOut:
        with refusals_answered():
            async with deps.units() as uow:
                channel = await kafka_channel.get_channel(uow, partner_id)
        return KafkaChannelOut.model_validate(channel, from_attributes=True)

    @api.delete("/kafka-channel", status_code=204)
    async def disable_channel(partner_id: Scope, deps: Deps, _operator: Operator) -> Response:
        with refusals_answered():
            async with deps.units() as uow:
                await kafka_channel.disable_channel(uow, partner_id)
        return Response(status_code=204)


def deliveries_router() -> APIRouter:
    api = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])

    @api.get("", response_model=list[DeliveryOut])
    async def list_deliveries(
        caller: Annotated[Principal, Depends(require_role("operator", "partner"))],
        deps: Deps,
        # Constrained like the path's partner id: free text (a NUL, say) would reach PostgreSQL.
        partner_id: Annotated[str | None, Query(pattern=PARTNER_ID)] = None,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeliveryOut]:
        if caller.role == "partner":
            if partner_id not in (None, caller.partner_id):
                raise HTTPException(403, f"this key belongs to partner {caller.partner_id!r}")
            partner_id = caller.partner_id
        async with deps.units() as uow:
            found = await deliveries.list_deliveries(
                uow, partner_id=partner_id, status=status, limit=limit
            )
        return [DeliveryOut.model_validate(d, from_attributes=True) for d in found]

    @api.post("/{delivery_id}/resend", status_code=202)
    async def resend(delivery_id: UUID, deps: Deps, _operator: Operator) -> dict[str, str]:
        with refusals_answered():
            async with deps.units() as uow:
                await deliveries.resend(uow, delivery_id, deps.clock())
        return {"delivery_id": str(delivery_id), "status": "pending"}

    @api.post("/recover", response_model=RecoverOut)
    async def recover(body: RecoverIn, deps: Deps, _operator: Operator) -> RecoverOut:
        async with deps.units() as uow:
            count = await deliveries.recover_failed(
                uow, since=body.since, partner_id=body.partner_id, now=deps.clock()
            )
        return RecoverOut(recovered=count)

    return api
