"""Use cases of the subscriptions API: endpoints (SSRF-checked), rotation, contacts, channels."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.notifier import domain
from services.notifier import subscriptions_repo as repo
from services.notifier.ssrf import SsrfGuard
from shared.topics import partner_topic

# Whether notifier may write a topic (shared.kafka.visible_topics, bound in app.py).
TopicWritable = Callable[[str], Awaitable[bool]]


class OverQuota(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 422
    """The partner has as many endpoints (or contacts) as it may: the message says so."""


class NoKafkaTenant(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """The partner was never granted Kafka access, so its topic does not exist (brief §7.1)."""


@dataclass(frozen=True)
class SubscriptionDeps:
    pool: asyncpg.Pool
    guard: SsrfGuard
    topic_writable: TopicWritable
    clock: Callable[[], datetime]
    secret_overlap_seconds: float
    quotas: domain.Quotas


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class NewEndpoint:
    endpoint_id: UUID
    secret: str


async def create_endpoint(
    deps: SubscriptionDeps, *, partner_id: str, url: str, event_types: list[str], secret: str | None
) -> NewEndpoint:
    """Raises ssrf_rules.Refused when the URL may not be called (checked again at send time),
    OverQuota when the partner has as many endpoints as it may."""
    await deps.guard.check(url)
    created = NewEndpoint(uuid4(), secret or new_secret())
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.lock_partner(conn, partner_id)  # the count below stays true until commit
        have = await repo.count_endpoints(conn, partner_id)
        _refuse_over_quota(domain.over_quota("endpoints", have, deps.quotas.endpoints))
        await repo.create_endpoint(
            conn,
            endpoint_id=created.endpoint_id,
            partner_id=partner_id,
            url=url,
            secret=created.secret,
            event_types=event_types,
        )
    return created


def _refuse_over_quota(why: str | None) -> None:
    if why is not None:
        raise OverQuota(why)


async def create_contact(
    deps: SubscriptionDeps,
    *,
    partner_id: str,
    email: str,
    name: str,
    language: str,
    event_types: list[str],
) -> asyncpg.Record:
    """Raises OverQuota when the partner has as many contacts as it may."""
    async with deps.pool.acquire() as conn, conn.transaction():
        await repo.lock_partner(conn, partner_id)  # the count below stays true until commit
        have = await repo.count_contacts(conn, partner_id)
        _refuse_over_quota(domain.over_quota("contacts", have, deps.quotas.contacts))
        return await repo.create_contact(
            conn,
            contact_id=uuid4(),
            partner_id=partner_id,
            email=email,
            name=name,
            language=language,
            event_types=event_types,
        )


async def update_endpoint(
    deps: SubscriptionDeps, partner_id: str, endpoint_id: UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    if changes.get("url") is not None:
        await deps.guard.check(changes["url"])
    async with deps.pool.acquire() as conn:
        return await repo.update_endpoint(conn, partner_id, endpoint_id, changes)


@dataclass(frozen=True)
class Rotated:
    secret: str
    previous_valid_until: datetime


async def rotate_secret(
    deps: SubscriptionDeps, partner_id: str, endpoint_id: UUID, secret: str | None
) -> Rotated | None:
    """A new secret; the old one keeps signing (a second signature) for the overlap window."""
    rotated = Rotated(
        secret or new_secret(),
        deps.clock() + timedelta(seconds=deps.secret_overlap_seconds),
    )
    async with deps.pool.acquire() as conn:
        done = await repo.rotate_secret(
            conn,
            partner_id,
            endpoint_id,
            secret=rotated.secret,
            overlap_until=rotated.previous_valid_until,
        )
    return rotated if done else None


async def enable_kafka_channel(
    deps: SubscriptionDeps, partner_id: str, event_types: list[str]
) -> asyncpg.Record:
    """Only for a partner granted Kafka access (`stax kafka grant partner ID` creates its topic
    and lets notifier write it), so no mirror is ever written to a topic it cannot reach."""
    topic = partner_topic(partner_id)
    if not await deps.topic_writable(topic):
        raise NoKafkaTenant(
            f"partner {partner_id} has no Kafka access yet: an operator runs "
            f"`stax kafka grant partner {partner_id}` first"
        )
    async with deps.pool.acquire() as conn:
        return await repo.put_kafka_channel(conn, partner_id, topic, event_types)
