"""The typed records notifier works with: what the repositories return and the handlers take.

Plain frozen dataclasses, so a row never travels as a mapping of loose keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.notifier.domain.subscriptions import wants


@dataclass(frozen=True)
class Subscriber:
    """An endpoint or contact of a partner, as the fan-out sees it: who, and its filter."""

    target_id: UUID
    event_types: Sequence[str]

    def wants(self, event_type: str) -> bool:
        return wants(self.event_types, event_type)


@dataclass(frozen=True)
class Endpoint:
    endpoint_id: UUID
    partner_id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EndpointChanges:
    """A partial update of an endpoint; None leaves a field as it is."""

    url: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = None


@dataclass(frozen=True)
class DisabledEndpoint:
    endpoint_id: UUID
    partner_id: str
    url: str


@dataclass(frozen=True)
class NewEndpoint:
    endpoint_id: UUID
    secret: str


@dataclass(frozen=True)
class Rotated:
    secret: str
    previous_valid_until: datetime


@dataclass(frozen=True)
class Contact:
    contact_id: UUID
    partner_id: str
    email: str
    name: str
    language: str
    event_types: list[str]
    enabled: bool
    created_at: datetime


@dataclass(frozen=True)
class RequesterContact:
    """The requesting Party's contact; `enabled` is false once its personal data was erased."""

    contact_id: UUID
    party: str
    enabled: bool


@dataclass(frozen=True)
class PendingNotice:
    """A notice for a requester whose contact has not arrived yet."""

    event_id: UUID
    event_type: str
    payload: str


@dataclass(frozen=True)
class KafkaChannel:
    partner_id: str
    topic: str
    event_types: list[str]
    enabled: bool
    created_at: datetime

    def wants(self, event_type: str) -> bool:
        return wants(self.event_types, event_type)


@dataclass(frozen=True)
class Subscribers:
    """Who of one partner hears of its events: contacts (e-mail), endpoints (webhooks), and the
    Kafka channel that mirrors them, when one is enabled. Read together, in one round trip."""

    partner_id: str
    contacts: list[Subscriber]
    endpoints: list[Subscriber]
    channel: KafkaChannel | None


@dataclass(frozen=True)
class NewDelivery:
    """One notice to queue for one endpoint (webhook) or one contact (e-mail)."""

    delivery_id: UUID
    event_id: UUID
    event_type: str
    partner_id: str
    request_id: UUID | None
    payload: str
    endpoint_id: UUID | None = None
    contact_id: UUID | None = None

    @property
    def channel(self) -> str:
        return "webhook" if self.endpoint_id is not None else "email"


@dataclass(frozen=True)
class WebhookTarget:
    endpoint_id: UUID
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    failing_since: datetime | None
    enabled: bool  # false once disabled or deleted: the delivery then fails as "target gone"


@dataclass(frozen=True)
class EmailTarget:
    contact_id: UUID
    email: str
    language: str
    enabled: bool  # false once removed (or erased): the delivery then fails as "target gone"


@dataclass(frozen=True)
class Delivery:
    """A leased delivery, with what sending it needs; `lease` is when the lease ends."""

    delivery_id: UUID
    event_id: UUID
    event_type: str
    partner_id: str
    request_id: UUID | None
    payload: str
    attempts: int
    lease: datetime
    target: WebhookTarget | EmailTarget
    # The W3C trace context it was queued in (None: not traced); sending continues that trace.
    traceparent: str | None = None

    @property
    def channel(self) -> str:
        return "webhook" if isinstance(self.target, WebhookTarget) else "email"


@dataclass(frozen=True)
class Claim:
    """What one claim leased, and whether it left due deliveries behind for an endpoint's cap
    (an endpoint of the batch now holds all the leases it may): those fall due for a claim as
    soon as a lease is let go, which no doorbell announces."""

    deliveries: list[Delivery]
    held_back: bool = False


@dataclass(frozen=True)
class AttemptRecord:
    """An attempt's outcome, to store on the delivery (under its lease)."""

    status: str
    error: str | None
    next_attempt_at: datetime | None
    at: datetime


@dataclass(frozen=True)
class DeliveryStatus:
    """A delivery as operators list it."""

    delivery_id: UUID
    event_id: UUID
    event_type: str
    channel: str
    partner_id: str
    request_id: UUID | None
    endpoint_id: UUID | None
    contact_id: UUID | None
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
