"""The AsyncAPI 3.0 document each service serves at `/docs/asyncapi.json`.

Publishers are declared for documentation only (events really leave through the outbox), so the
document carries the JSON Schema of every event the service emits, generated from shared.events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.events import Event


def declare_emitted(broker: KafkaBroker, events: Iterable[type[Event]]) -> None:
    for event in events:
        broker.publisher(
            event.topic,
            schema=event,
            title=event.ce_type,
            description=(event.__doc__ or event.ce_type).strip(),
        )


def asyncapi_router(broker: KafkaBroker, *, title: str, version: str) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/docs/asyncapi.json", summary="AsyncAPI 3.0 document of this service's events")
    async def asyncapi() -> dict[str, Any]:
        spec = AsyncAPI(broker, title=title, version=version, schema_version="3.0.0")
        document: dict[str, Any] = spec.to_specification().to_jsonable()
        return document

    return router
