"""Principals, ACLs and tenant topics on the broker, through Kafka's admin API (confluent-kafka).

aiokafka's admin client has neither ACLs nor SCRAM users, so this is the one place that speaks to
the broker as its administrator. What it grants is `shared.kafka_acls`; this module only applies it.

Revocation never deletes a SCRAM credential: in Kafka 4.3.1 a deletion can wipe every SCRAM user
at the next restart (docs/kafka-security.md). It deletes the ACLs (effective at the next request)
and sets a random password nobody knows (effective at the next login, which the broker forces
after `connections.max.reauth.ms`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from shared.kafka_access import KafkaAccess
from shared.kafka_acls import (
    SERVICE_ACLS,
    Acl,
    TenantKind,
    tenant_acls,
    tenant_principal,
    tenant_topics,
)

_TIMEOUT = 30.0
_ITERATIONS = 8192
_RESOURCE = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
_PATTERN = {"literal": ResourcePatternType.LITERAL, "prefixed": ResourcePatternType.PREFIXED}
_OPERATION = {"read": AclOperation.READ, "write": AclOperation.WRITE}


class KafkaAdminError(RuntimeError):
    """The broker refused or did not answer an administrative request."""


@dataclass(frozen=True)
class Grant:
    """What `stax kafka grant` made: the tenant's principal and how it connects."""

    principal: str
    topics: list[str]
    client: dict[str, str]


class KafkaAdmin:
    """An admin session on one broker (the principal must be a super user)."""

    def __init__(self, access: KafkaAccess) -> None:
        self._access = access
        self._client = AdminClient(dict(access.librdkafka()))

    # ------------------------------------------------------------------ building blocks

    def set_password(self, user: str, password: str) -> None:
        """Create the SCRAM-SHA-512 user, or change its password."""
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _ITERATIONS)
        upsert = UserScramCredentialUpsertion(user, info, password.encode())
        _wait(self._client.alter_user_scram_credentials([upsert]))

    def allow(self, rules: Mapping[str, Iterable[Acl]]) -> None:
        """Add ALLOW bindings; the broker ignores one that exists already."""
        bindings: list[AclBinding] = [_binding(p, acl) for p, acls in rules.items() for acl in acls]
        if bindings:
            _wait(self._client.create_acls(bindings))

    def disallow_all(self, principal: str) -> int:
        """Delete every binding of `principal`; returns how many there were."""
        return _deleted(self._client.delete_acls([_everything_of(principal)]))

    def create_topics(self, wanted: Mapping[str, int]) -> list[str]:
        """Create the missing topics of `wanted` (name → partitions); returns those created."""
        existing = set(self._client.list_topics(timeout=_TIMEOUT).topics)
        new = [NewTopic(n, p, 1) for n, p in wanted.items() if n not in existing]
        if not new:
            return []
        for future in self._client.create_topics(new, request_timeout=_TIMEOUT).values():
            try:
                future.result(timeout=_TIMEOUT)
            except KafkaException as exc:  # a concurrent creator won: the topic is there
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise KafkaAdminError(str(exc)) from exc
        return [t.topic for t in new]

    def acls_of(self, principal: str) -> list[Acl]:
        found = self._client.describe_acls(_everything_of(principal)).result(timeout=_TIMEOUT)
        return sorted(_acl(b) for b in found)

    # ------------------------------------------------------------------ STAX's own principals

    def provision_services(self, passwords: Mapping[str, str]) -> None:
        """Each service principal with its password and exactly its ACLs (`SERVICE_ACLS`)."""
        for principal in SERVICE_ACLS:
            self.set_password(principal, passwords[principal])
        self.allow(SERVICE_ACLS)

    # ------------------------------------------------------------------ tenants

    def grant(self, kind: TenantKind, tenant: str) -> Grant:
        """Topics, ACLs and a fresh password for a partner or upstream system.

        Granting again gives a new password (the old one stops working): the way to rotate."""
        principal = tenant_principal(kind, tenant)
        wanted = tenant_topics(kind, tenant)
        self.create_topics(wanted)
        password = secrets.token_urlsafe(24)
        self.set_password(principal, password)
        self.allow(tenant_acls(kind, tenant))
        client = self._access.as_user(principal, password).librdkafka()
        return Grant(principal, sorted(wanted), client)

    def revoke(self, kind: TenantKind, tenant: str) -> int:
        """Cut a tenant off; its topics and their data stay for the operators. Returns the
        number of ACLs removed.

        The services keep their rules on the tenant's topics: a relay refused a write (notifier
        mirroring to a revoked partner's topic) would hold back that service's whole outbox."""
        removed = self.disallow_all(tenant_principal(kind, tenant))
        self.set_password(tenant_principal(kind, tenant), secrets.token_urlsafe(32))  # see above
        return removed


def _binding(principal: str, acl: Acl) -> AclBinding:
    return AclBinding(
        _RESOURCE[acl.resource], acl.name, _PATTERN[acl.pattern], f"User:{principal}", "*",
        _OPERATION[acl.operation], AclPermissionType.ALLOW,
    )  # fmt: skip


def _everything_of(principal: str) -> AclBindingFilter:
    # None means "any" in a filter; confluent-kafka's stubs type these arguments as str.
    return AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{principal}", None,  # type: ignore[arg-type]
        AclOperation.ANY, AclPermissionType.ANY,
    )  # fmt: skip


def _acl(binding: Any) -> Acl:
    resource = {v: k for k, v in _RESOURCE.items()}[binding.restype]
    pattern = {v: k for k, v in _PATTERN.items()}[binding.resource_pattern_type]
    operation = {v: k for k, v in _OPERATION.items()}[binding.operation]
    return Acl(resource, binding.name, pattern, operation)  # type: ignore[arg-type]


def _wait(futures: Mapping[Any, Future[Any]] | list[Future[Any]]) -> None:
    for future in futures.values() if isinstance(futures, Mapping) else futures:
        try:
            future.result(timeout=_TIMEOUT)
        except KafkaException as exc:
            raise KafkaAdminError(str(exc)) from exc


def _deleted(futures: Mapping[Any, Future[Any]]) -> int:
    try:
        return sum(len(f.result(timeout=_TIMEOUT)) for f in futures.values())
    except KafkaException as exc:
        raise KafkaAdminError(str(exc)) from exc
