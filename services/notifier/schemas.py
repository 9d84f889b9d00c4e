"""The HTTP API's request and response bodies, validated by pydantic (422 lists every reason)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from services.notifier import domain
from shared import bounds
from shared.bounds import quoted

# Partner ids end up in topic names (ta.partner.<id>.v1): keep them to safe characters.
PARTNER_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Status = Literal["pending", "delivered", "failed"]
Language = Literal["en", "fr", "es", "ar", "ru", "zh"]

# Bounds (shared.bounds). CloudEvents types are dotted names like ta.notification.delivered.
MAX_EVENT_TYPE = 64
MAX_EVENT_TYPES = 20  # there are fewer event types than that: more entries can only be repeats
# A whsec_ secret is base64 of 24 to 64 random bytes (Standard Webhooks): under 100 characters.
MAX_SECRET = 200
EventType = Annotated[str, StringConstraints(max_length=MAX_EVENT_TYPE)]
EventTypes = Annotated[list[EventType], Field(max_length=MAX_EVENT_TYPES)]
Secret = Annotated[
    str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/=]{32,}$", max_length=MAX_SECRET)
]


def _known_types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - domain.EVENT_TYPES)
    if unknown:
        named = ", ".join(quoted(t) for t in unknown)  # what was sent is quoted only briefly
        raise ValueError(f"unknown event types {named}; known: {sorted(domain.EVENT_TYPES)}")
    return sorted(set(values))


class Filtered(BaseModel):
    event_types: EventTypes = Field(
        default_factory=list, description="Event types to send; empty means all"
    )

    @field_validator("event_types")
    @classmethod
    def _check_types(cls, values: list[str]) -> list[str]:
        return _known_types(values)


def _usable_secret(secret: str | None) -> str | None:
    # The pattern only says what a secret looks like; decoding it says whether it can sign.
    problem = None if secret is None else domain.secret_problem(secret)
    if problem is not None:
        raise ValueError(f"the secret {problem}")
    return secret


SIGNING_HELP = "whsec_ + base64 of 24 to 64 random bytes; generated when omitted"


class EndpointIn(Filtered):
    url: AnyHttpUrl = Field(
        max_length=bounds.MAX_URL, description="Where to POST webhooks (http/https)"
    )
    secret: Secret | None = Field(default=None, description=SIGNING_HELP)

    _check_secret = field_validator("secret")(_usable_secret)


class EndpointPatch(BaseModel):
    url: AnyHttpUrl | None = Field(default=None, max_length=bounds.MAX_URL)
    event_types: EventTypes | None = None
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint")

    @field_validator("event_types")
    @classmethod
    def _check_types(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else _known_types(values)


class EndpointCreated(BaseModel):
    endpoint_id: UUID
    secret: str = Field(description="The signing secret; shown only in this answer")


class EndpointOut(BaseModel):
    endpoint_id: UUID
    partner_id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_until: datetime | None = Field(
        description="Until when the secret before the last rotation also signs"
    )
    created_at: datetime
    updated_at: datetime


class RotateIn(BaseModel):
    secret: Secret | None = Field(default=None, description=SIGNING_HELP)

    _check_secret = field_validator("secret")(_usable_secret)


class Rotated(BaseModel):
    secret: str = Field(description="The new secret; shown only in this answer")
    previous_secret_valid_until: datetime = Field(
        description="Both secrets sign until then (two signatures in webhook-signature)"
    )


class ContactIn(Filtered):
    email: EmailStr = Field(max_length=bounds.MAX_EMAIL)
    name: str = Field(default="", max_length=bounds.MAX_PERSON_NAME)
    language: Language = Field(default="en", description="Templates: en, fr, es; others get en")

    @field_validator("email")
    @classmethod
    def _check_email(cls, email: str) -> str:
        # The mailer refuses it at send time as well (requester contacts come from events).
        problem = domain.unsafe_address(email)
        if problem is not None:
            raise ValueError(f"this address cannot be put in a mail header: {problem}")
        return email


class ContactOut(BaseModel):
    contact_id: UUID
    partner_id: str
    email: str
    name: str
    language: str
    event_types: list[str]
    enabled: bool
    created_at: datetime


class KafkaChannelIn(Filtered):
    pass


class KafkaChannelOut(BaseModel):
    partner_id: str
    topic: str
    event_types: list[str]
    enabled: bool
    created_at: datetime


class DeliveryOut(BaseModel):
    delivery_id: UUID = Field(description="Also the webhook-id")
    event_id: UUID
    event_type: str
    channel: str
    partner_id: str
    request_id: UUID | None
    endpoint_id: UUID | None
    contact_id: UUID | None
    status: Status
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None


class RecoverIn(BaseModel):
    since: AwareDatetime = Field(description="Failed at or after this time (with a time zone)")
    partner_id: str | None = Field(default=None, pattern=PARTNER_ID)


class RecoverOut(BaseModel):
    recovered: int
