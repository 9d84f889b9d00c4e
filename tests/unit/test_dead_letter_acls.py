"""A dead letter can be replayed to wherever it came from, and nowhere else: the topics a service
may read (so may consume) are `topics.CONSUMED` and the tenant topics of `CONSUMED_PATTERNS`,
and intake may write every one of them."""

from __future__ import annotations

import pytest

from shared import topics
from shared.kafka_acls import (
    SERVICE_ACLS,
    SERVICES,
    Acl,
    TenantKind,
    service_principal,
    tenant_acls,
)

INTAKE = service_principal("intake")
SERVICE_PRINCIPALS = {service_principal(s) for s in SERVICES}


def _topics(rules: dict[str, list[Acl]], operation: str, principals: set[str]) -> set[str]:
    return {
        a.name
        for p, acls in rules.items()
        if p in principals
        for a in acls
        if a.resource == "topic" and a.operation == operation
    }


def test_the_fixed_topics_services_read_are_the_consumed_ones_and_intake_writes_them() -> None:
    read = _topics(SERVICE_ACLS, "read", SERVICE_PRINCIPALS)
    # intake reads the dead letters for the operators; nobody consumes them in a group.
    assert read - {topics.DEADLETTER} == set(topics.CONSUMED)
    assert set(topics.CONSUMED) <= _topics(SERVICE_ACLS, "write", {INTAKE})


@pytest.mark.parametrize("kind", ["partner", "submitter"])
def test_the_tenant_topics_services_read_are_consumed_and_intake_writes_them(
    kind: TenantKind,
) -> None:
    rules = tenant_acls(kind, "acme-7")
    read = _topics(rules, "read", SERVICE_PRINCIPALS)
    assert read and all(topics.is_consumed(t) for t in read)
    assert read <= _topics(rules, "write", {INTAKE})


def test_a_topic_is_consumed_only_if_fixed_or_a_tenants_answers_or_submissions() -> None:
    assert all(topics.is_consumed(t) for t in topics.CONSUMED)
    assert topics.is_consumed(topics.partner_responses_topic("acme-7"))
    assert topics.is_consumed(topics.submitter_requests_topic("acme-7"))
    for foreign in (
        topics.DEADLETTER,
        topics.partner_topic("acme-7"),
        topics.submitter_outcomes_topic("acme-7"),
        "__consumer_offsets",
        "ta.partner..responses.v1",
        "ta.partner.a.b.responses.v1",
        "ta.requests.v1 ",
        "TA.REQUESTS.V1",
    ):
        assert not topics.is_consumed(foreign), foreign
