"""Who may do what on the broker: the one table of Kafka ACLs (product brief §7.1).

Pure data. The local launcher and `stax kafka` apply it through the admin API, the Kubernetes
manifests state it as Strimzi `KafkaUser` resources (a test compares them), and the README prints
it. The broker denies everything not listed here; the only super users are the admin principal
and the broker's own accounts (`broker` for its inter-broker listener, `controller`).

Tenants are organisations outside STAX's trust boundary. Their identity is the topic they may
use, never a field in a payload: partner `<id>` writes only `ta.partner.<id>.responses.v1`,
upstream system `<name>` writes only `ta.submitter.<name>.requests.v1`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from shared import topics

Resource = Literal["topic", "group"]
Pattern = Literal["literal", "prefixed"]
Operation = Literal["read", "write"]
TenantKind = Literal["partner", "submitter"]

ADMIN: Final = "admin"
SERVICES: Final = ("intake", "matcher", "notifier")
# Tenant ids become topic names and parts of regular expressions: no dots, no wildcards.
TENANT_ID: Final = r"[a-z0-9][a-z0-9-]{1,62}"
_TENANT_ID = re.compile(TENANT_ID)


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule for a principal (host `*`)."""

    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation


def service_principal(service: str) -> str:
    return f"stax-{service}"


def tenant_principal(kind: TenantKind, tenant: str) -> str:
    return f"{kind}-{check_tenant_id(tenant)}"


def check_tenant_id(tenant: str) -> str:
    if not _TENANT_ID.fullmatch(tenant):
        raise ValueError(
            f"{tenant!r} is not a valid tenant id: 2-63 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return tenant


def _reads(*names: str) -> list[Acl]:
    return [Acl("topic", n, "literal", "read") for n in names]


def _writes(*names: str) -> list[Acl]:
    return [Acl("topic", n, "literal", "write") for n in names]


def _group(name: str) -> Acl:
    return Acl("group", name, "literal", "read")


# What each service needs on the contract's fixed topics; per-tenant rules come from `tenant_acls`.
SERVICE_ACLS: Final[dict[str, list[Acl]]] = {
    service_principal("intake"): [
        *_reads(topics.REQUESTS_SUBMITTED, topics.REQUESTS, topics.ASSIGNMENTS),
        *_reads(topics.NOTIFICATIONS),
        *_writes(topics.REQUESTS, topics.ASSIGNMENT_RESPONSES, topics.DEADLETTER),
        # Dead-letter replay (intake's /v1/dead-letters): read the dead letters, and write one
        # back to the topic it came from, any topic a service consumes (topics.CONSUMED).
        *_reads(topics.DEADLETTER),
        *_writes(topics.REQUESTS_SUBMITTED, topics.ASSIGNMENTS, topics.NOTIFICATIONS),
        *_writes(topics.PORTAL_SIGN_IN),
        _group("stax-intake"),
    ],
    service_principal("matcher"): [
        *_reads(topics.REQUESTS, topics.ASSIGNMENT_RESPONSES),
        *_writes(topics.REQUESTS, topics.ASSIGNMENTS, topics.DEADLETTER),
        _group("stax-matcher"),
    ],
    service_principal("notifier"): [
        *_reads(topics.REQUESTS, topics.ASSIGNMENTS, topics.PORTAL_SIGN_IN),
        *_writes(topics.NOTIFICATIONS, topics.DEADLETTER),
        _group("stax-notifier"),
    ],
}


def tenant_topics(kind: TenantKind, tenant: str) -> dict[str, int]:
    """The topics a tenant's grant creates, with their partition counts."""
    if kind == "partner":
        return {topics.partner_topic(tenant): 1, topics.partner_responses_topic(tenant): 1}
    return {topics.submitter_requests_topic(tenant): 3, topics.submitter_outcomes_topic(tenant): 3}


def tenant_acls(kind: TenantKind, tenant: str) -> dict[str, list[Acl]]:
    """Every rule a tenant's grant adds: the tenant's own, and the services' on its topics."""
    principal = tenant_principal(kind, tenant)
    if kind == "partner":
        mirror, answers = topics.partner_topic(tenant), topics.partner_responses_topic(tenant)
        return {
            principal: [
                *_reads(mirror),
                *_writes(answers),
                Acl("group", f"partner.{tenant}.", "prefixed", "read"),
            ],
            service_principal("matcher"): _reads(answers),
            service_principal("notifier"): _writes(mirror),
            # Replaying a dead-lettered answer writes it back where the partner wrote it.
            service_principal("intake"): _writes(answers),
        }
    requests = topics.submitter_requests_topic(tenant)
    outcomes = topics.submitter_outcomes_topic(tenant)
    return {
        principal: [
            *_reads(outcomes),
            *_writes(requests),
            Acl("group", f"submitter.{tenant}.", "prefixed", "read"),
        ],
        # The requests write: replaying a dead-lettered submission puts it back on its topic.
        service_principal("intake"): [*_reads(requests), *_writes(outcomes, requests)],
    }


def table() -> list[tuple[str, Acl]]:
    """Every fixed rule plus a sample tenant of each kind, as (principal, rule) rows."""
    rows = [(p, a) for p, acls in SERVICE_ACLS.items() for a in acls]
    for kind, placeholder in _SAMPLES:
        rows += [(p, a) for p, acls in _sample(kind, placeholder).items() for a in acls]
    return rows


_SAMPLES: Final[tuple[tuple[TenantKind, str], ...]] = (("partner", "<id>"), ("submitter", "<name>"))


def _sample(kind: TenantKind, placeholder: str) -> dict[str, list[Acl]]:
    # The README's table shows `<id>`, which is not a valid id; substitute after building.
    built = tenant_acls(kind, "x0")
    return {
        p.replace("x0", placeholder): [
            Acl(a.resource, a.name.replace("x0", placeholder), a.pattern, a.operation) for a in acls
        ]
        for p, acls in built.items()
    }
