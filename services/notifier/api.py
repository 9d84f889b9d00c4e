"""notifier's HTTP routes: parse → call one use case → shape the response.

Subscriptions (`/v1/partners/{partner_id}/…`): an operator key for any partner, a partner key for
its own partner id only (403 otherwise). Deliveries (`/v1/deliveries…`): operators; a partner key
may list its own.
"""

from __future__ import annotations

from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from services.notifier import repository, subscriptions
from services.notifier import subscriptions_repo as repo
from services.notifier.models import (
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
from services.notifier.ssrf_rules import Refused
from shared.auth import Principal, require_role
from shared.errors import ApiError


async def _deps(request: Request) -> subscriptions.SubscriptionDeps:
    deps: subscriptions.SubscriptionDeps = request.app.state.subscriptions  # set in app.py
    return deps


Deps = Annotated[subscriptions.SubscriptionDeps, Depends(_deps)]
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


def _refused(refused: Refused) -> ApiError:
    return ApiError.one(422, refused.code, str(refused), field="url")


def _over_quota(over: subscriptions.OverQuota) -> ApiError:
    # The partner (path) is at fault, not a body field.
    return ApiError.one(422, "quota_exceeded", str(over), field="partner_id")


T = TypeVar("T")


def _found(value: T | None, what: str) -> T:
    if value is None or value is False:
        raise HTTPException(404, f"no such {what}")
    return value


def subscriptions_router() -> APIRouter:
    api = APIRouter(prefix="/v1/partners/{partner_id}", tags=["subscriptions"])
    _endpoint_routes(api)
    _contact_routes(api)
    _kafka_channel_routes(api)
    return api


def _endpoint_routes(api: APIRouter) -> None:
    @api.post("/endpoints", status_code=201, response_model=EndpointCreated)
    async def create_endpoint(partner_id: Scope, body: EndpointIn, deps: Deps) -> EndpointCreated:
        try:
            made = await subscriptions.create_endpoint(
                deps,
                partner_id=partner_id,
                url=str(body.url),
                event_types=body.event_types,
                secret=body.secret,
            )
        except Refused as refused:
            raise _refused(refused) from refused
        except subscriptions.OverQuota as over:
            raise _over_quota(over) from over
        return EndpointCreated(endpoint_id=made.endpoint_id, secret=made.secret)

    @api.get("/endpoints", response_model=list[EndpointOut])
    async def list_endpoints(partner_id: Scope, deps: Deps) -> list[EndpointOut]:
        async with deps.pool.acquire() as conn:
            rows = await repo.list_endpoints(conn, partner_id)
        return [EndpointOut(**dict(r)) for r in rows]

    @api.get("/endpoints/{endpoint_id}", response_model=EndpointOut)
    async def get_endpoint(partner_id: Scope, endpoint_id: UUID, deps: Deps) -> EndpointOut:
        async with deps.pool.acquire() as conn:
            row = _found(await repo.get_endpoint(conn, partner_id, endpoint_id), "endpoint")
        return EndpointOut(**dict(row))

    @api.patch("/endpoints/{endpoint_id}", response_model=EndpointOut)
    async def patch_endpoint(
        partner_id: Scope, endpoint_id: UUID, body: EndpointPatch, deps: Deps
    ) -> EndpointOut:
        changes = body.model_dump(exclude_unset=True, mode="json")
        try:
            row = await subscriptions.update_endpoint(deps, partner_id, endpoint_id, changes)
        except Refused as refused:
            raise _refused(refused) from refused
        return EndpointOut(**dict(_found(row, "endpoint")))

    @api.delete("/endpoints/{endpoint_id}", status_code=204)
    async def delete_endpoint(partner_id: Scope, endpoint_id: UUID, deps: Deps) -> Response:
        async with deps.pool.acquire() as conn:
            _found(await repo.delete_endpoint(conn, partner_id, endpoint_id), "endpoint")
        return Response(status_code=204)

    @api.post("/endpoints/{endpoint_id}/rotate", response_model=Rotated)
    async def rotate(
        partner_id: Scope, endpoint_id: UUID, deps: Deps, body: RotateIn | None = None
    ) -> Rotated:
        secret = body.secret if body is not None else None
        done = await subscriptions.rotate_secret(deps, partner_id, endpoint_id, secret)
        found = _found(done, "endpoint")
        return Rotated(secret=found.secret, previous_secret_valid_until=found.previous_valid_until)


def _contact_routes(api: APIRouter) -> None:
    @api.post("/contacts", status_code=201, response_model=ContactOut)
    async def create_contact(partner_id: Scope, body: ContactIn, deps: Deps) -> ContactOut:
        try:
            row = await subscriptions.create_contact(
                deps,
                partner_id=partner_id,
                email=str(body.email),
                name=body.name,
                language=body.language,
                event_types=body.event_types,
            )
        except subscriptions.OverQuota as over:
            raise _over_quota(over) from over
        return ContactOut(**dict(row))

    @api.get("/contacts", response_model=list[ContactOut])
    async def list_contacts(partner_id: Scope, deps: Deps) -> list[ContactOut]:
        async with deps.pool.acquire() as conn:
            rows = await repo.list_contacts(conn, partner_id)
        return [ContactOut(**dict(r)) for r in rows]

    @api.delete("/contacts/{contact_id}", status_code=204)
    async def delete_contact(partner_id: Scope, contact_id: UUID, deps: Deps) -> Response:
        async with deps.pool.acquire() as conn:
            _found(await repo.delete_contact(conn, partner_id, contact_id), "contact")
        return Response(status_code=204)


def _kafka_channel_routes(api: APIRouter) -> None:
    @api.put("/kafka-channel", response_model=KafkaChannelOut)
    async def enable_channel(
        partner_id: Scope, deps: Deps, _operator: Operator, body: KafkaChannelIn | None = None
    ) -> KafkaChannelOut:
        event_types = body.event_types if body is not None else []
        try:
            row = await subscriptions.enable_kafka_channel(deps, partner_id, event_types)
        except subscriptions.NoKafkaTenant as exc:
            raise HTTPException(409, str(exc)) from exc
        return KafkaChannelOut(**dict(row))

    @api.get("/kafka-channel", response_model=KafkaChannelOut)
    async def get_channel(partner_id: Scope, deps: Deps) -> KafkaChannelOut:
        async with deps.pool.acquire() as conn:
            row = _found(await repo.get_kafka_channel(conn, partner_id), "Kafka channel")
        return KafkaChannelOut(**dict(row))

    @api.delete("/kafka-channel", status_code=204)
    async def disable_channel(partner_id: Scope, deps: Deps, _operator: Operator) -> Response:
        async with deps.pool.acquire() as conn:
            _found(await repo.disable_kafka_channel(conn, partner_id), "Kafka channel")
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
        async with deps.pool.acquire() as conn:
            rows = await repository.list_deliveries(
                conn, partner_id=partner_id, status=status, limit=limit
            )
        return [DeliveryOut(**dict(r)) for r in rows]

    @api.post("/{delivery_id}/resend", status_code=202)
    async def resend(delivery_id: UUID, deps: Deps, _operator: Operator) -> dict[str, str]:
        async with deps.pool.acquire() as conn:
            if not await repository.resend(conn, delivery_id, deps.clock()):
                exists = await repository.delivery_exists(conn, delivery_id)
                raise HTTPException(
                    409 if exists else 404, "already pending" if exists else "no such delivery"
                )
        return {"delivery_id": str(delivery_id), "status": "pending"}

    @api.post("/recover", response_model=RecoverOut)
    async def recover(body: RecoverIn, deps: Deps, _operator: Operator) -> RecoverOut:
        async with deps.pool.acquire() as conn:
            count = await repository.recover_failed(
                conn, since=body.since, partner_id=body.partner_id, now=deps.clock()
            )
        return RecoverOut(recovered=count)

    return api
