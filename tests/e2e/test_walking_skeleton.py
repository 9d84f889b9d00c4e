"""End to end: the three services as processes, a request over HTTP, a signed webhook out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import stack
from deploy.local.otlp_receiver import OtlpReceiver, ReceivedSpan, tree
from deploy.local.receiver import Received, WebhookReceiver
from shared.auth import create_key
from tests.e2e.service_logs import ServiceLog
from tests.intake.events import eventually
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

# matcher's pick for a French-speaking Senegal PCB training request (see docs/matcher.md)
LEAD = "scrc-senegal"


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    """Where the services of this module export their traces (as to a collector)."""
    started = OtlpReceiver().start()
    yield started
    started.stop()


@pytest.fixture
def services_up(services: Services, otlp: OtlpReceiver) -> stack.StackSettings:
    """The three services, tracing on (brief §7.5): the only settings are OTEL_* variables."""
    for service in stack.SERVICES:
        if services.pid(service) is None:
            services.configure(service, _tracing_env(otlp))
    services.ensure()
    return services.cfg


def _tracing_env(otlp: OtlpReceiver) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms: spans reach the receiver soon after they end
    }


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, operator = await create_key(conn, role="operator", name="e2e-operator")
        _, submitter = await create_key(conn, role="submitter", name="e2e-portal")
    return {"operator": operator, "submitter": submitter}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver().start()
    yield started
    started.stop()


def _submission(ref: str) -> dict[str, object]:
    return {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "urgency": "urgent",
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": {
            "name": "A. Ndiaye",
            "email": "a.ndiaye@example.sn",
            "organisation": "Ministry of Environment",
        },
    }


async def _offered_to_lead(
    client: httpx.AsyncClient,
    cfg: stack.StackSettings,
    receiver: WebhookReceiver,
    keys: dict[str, str],
    ref: str,
) -> tuple[str, list[Received]]:
    """Point the lead's webhook at `receiver`, submit a request; its id and the webhooks about
    it, once the first has arrived (60 s at most)."""
    made = await client.post(
        f"http://127.0.0.1:{cfg.notifier_port}/v1/partners/{LEAD}/endpoints",
        json={"url": receiver.url, "event_types": ["ta.assignment.offered"]},
        headers=_auth(keys["operator"]),
    )
    assert made.status_code == 201, made.text
    receiver.secrets.append(made.json()["secret"])
    answer = await client.post(
        f"http://127.0.0.1:{cfg.intake_port}/v1/requests",
        json=_submission(ref),
        headers=_auth(keys["submitter"]),
    )
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["request_id"]

    def about_this_request(r: Received) -> bool:
        return bool(r.body and r.body["data"]["request_id"] == request_id)

    return request_id, await asyncio.to_thread(receiver.wait_for, about_this_request, 60)


async def test_a_request_reaches_the_partner_as_a_verified_signed_webhook(
    services_up: stack.StackSettings, receiver: WebhookReceiver, keys: dict[str, str], unique: str
) -> None:
    cfg = services_up
    async with httpx.AsyncClient(timeout=10) as client:
        _, mine = await _offered_to_lead(client, cfg, receiver, keys, f"e2e-{unique}")
    assert len(mine) == 1, receiver.received
    assert mine[0].verified  # checked by the standardwebhooks library against the secret
    assert mine[0].body is not None
    assert mine[0].body["type"] == "ta.assignment.offered"
    assert mine[0].body["data"]["partner_id"] == LEAD
    assert mine[0].body["data"]["role"] == "lead"
    assert mine[0].headers["webhook-signature"].startswith("v1,")
    assert not [r for r in receiver.received if not r.verified]
    for service in stack.SERVICES:  # each consumed records for this request: none logged a line
        assert ServiceLog.read(cfg, service).per_message_lines() == [], service


async def test_each_service_serves_health_readiness_and_metrics(
    services_up: stack.StackSettings,
) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for service in stack.SERVICES:
            base = f"http://127.0.0.1:{services_up.port_of(service)}"
            assert (await client.get(f"{base}/healthz")).status_code == 200
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": True, "kafka": True}
            metrics = await client.get(f"{base}/metrics")
            assert metrics.status_code == 200
            assert "process_cpu_seconds_total" in metrics.text


async def test_a_resubmission_returns_the_same_request_id(
    services_up: stack.StackSettings, keys: dict[str, str], unique: str
) -> None:
    url = f"http://127.0.0.1:{services_up.intake_port}/v1/requests"
    async with httpx.AsyncClient(timeout=10, headers=_auth(keys["submitter"])) as client:
        first = await client.post(url, json=_submission(f"again-{unique}"))
        second = await client.post(url, json=_submission(f"again-{unique}"))
        changed = await client.post(
            url, json={**_submission(f"again-{unique}"), "title": "another title"}
        )
    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert changed.status_code == 409


async def test_each_service_publishes_an_asyncapi_document_with_its_event_schemas(
    services_up: stack.StackSettings,
) -> None:
    emitted = {
        "intake": {
            "RequestAccepted",
            "RequestRejected",
            "AssignmentResponse",
            "PortalSignInRequested",
        },
        "matcher": {"AssignmentOffered", "RequestMatched", "RequestUnmatched"},
        "notifier": {"NotificationDelivered", "NotificationFailed"},
    }
    async with httpx.AsyncClient(timeout=5) as client:
        for service, schemas in emitted.items():
            url = f"http://127.0.0.1:{services_up.port_of(service)}/docs/asyncapi.json"
            document = (await client.get(url)).json()
            assert document["asyncapi"] == "3.0.0"
            assert schemas <= set(document["components"]["schemas"])
            # Clients learn from the document how to connect: TLS + SCRAM-SHA-512 (brief §7.1).
            assert document["components"]["securitySchemes"] == {
                "scram512": {"type": "scramSha512"}
            }
            for server in document["servers"].values():
                assert server["protocol"] == "kafka-secure"
                assert server["security"] == [{"$ref": "#/components/securitySchemes/scram512"}]


async def test_one_request_is_one_trace_from_intake_to_the_webhook(
    services_up: stack.StackSettings,
    receiver: WebhookReceiver,
    otlp: OtlpReceiver,
    keys: dict[str, str],
    unique: str,
) -> None:
    """intake's HTTP span → outbox → Kafka → matcher → outbox → Kafka → notifier → the webhook
    POST: one trace id, spans of the three services, and the POST carries the trace on."""
    cfg = services_up
    async with httpx.AsyncClient(timeout=10) as client:
        request_id, (webhook, *_) = await _offered_to_lead(
            client, cfg, receiver, keys, f"e2e-trace-{unique}"
        )
    assert webhook.verified
    version, trace_id, parent_id, _flags = webhook.headers["traceparent"].split("-")
    assert version == "00" and len(trace_id) == 32

    def complete(_: list[ReceivedSpan]) -> bool:
        return _complete(otlp.trace(trace_id), post_id=parent_id)

    spans = await asyncio.to_thread(otlp.wait_for, complete, 30)
    mine = [s for s in spans if s.trace_id == trace_id]
    print(f"trace {trace_id}:\n{tree(mine)}")  # the span tree, for people reading -s output
    assert _complete(mine, post_id=parent_id), tree(mine)
    services = {s.service for s in mine}
    assert {"stax-intake", "stax-matcher", "stax-notifier"} <= services, services
    (root,) = [s for s in mine if not s.parent_id]
    assert root.service == "stax-intake" and root.kind == "server", root
    assert root.attributes.get("http.route") == "/v1/requests", root.attributes
    # The POST that reached the receiver is notifier's client span in this very trace.
    (post,) = [s for s in mine if s.span_id == parent_id]
    assert post.service == "stax-notifier" and post.kind == "client", post
    # Consumer spans for the request's records in matcher and notifier, and producer spans.
    assert any(s.service == "stax-matcher" and s.kind == "consumer" for s in mine)
    assert any(s.service == "stax-notifier" and s.kind == "consumer" for s in mine)
    assert {s.service for s in mine if s.kind == "producer"} >= {"stax-intake", "stax-matcher"}
    # Probes and scrapes are not traced.
    assert not [s for s in spans if s.attributes.get("http.route") in ("/readyz", "/metrics")]
    # Log lines written under the trace name it (brief §7.5): intake's acceptance, matcher's offer.
    logged = {
        service
        for service in stack.SERVICES
        for line in ServiceLog.read(cfg, service).lines()
        if line.get("trace_id") == trace_id and line.get("request_id") == request_id
    }
    assert {"intake", "matcher"} <= logged, logged


def _complete(spans: list[ReceivedSpan], *, post_id: str) -> bool:
    """One root, every other span's parent received, and the webhook POST among them (the
    lead may have several endpoints at the receiver: each POST is a span of its own)."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id]
    orphans = [s for s in spans if s.parent_id and s.parent_id not in ids]
    posted = any(s.span_id == post_id for s in spans)
    return len(roots) == 1 and not orphans and posted


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(client: httpx.AsyncClient, base: str) -> Samples:
    text = (await client.get(f"{base}/metrics")).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _with(samples: Samples, name: str, **labels: str) -> list[float]:
    """The values of every series of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return [v for (n, have), v in samples.items() if n == name and wanted <= have]


async def test_the_metrics_follow_a_request_from_submission_to_its_leads_acceptance(
    services_up: stack.StackSettings,
    receiver: WebhookReceiver,
    keys: dict[str, str],
    pool: asyncpg.Pool,
    idle_partners: None,
    unique: str,
) -> None:
    cfg = services_up
    matcher, notifier = (f"http://127.0.0.1:{cfg.port_of(s)}" for s in ("matcher", "notifier"))
    async with pool.acquire() as conn:
        _, lead_key = await create_key(conn, role="partner", name=f"m-{unique}", partner_id=LEAD)
    async with httpx.AsyncClient(timeout=10) as client:
        before = {base: await _scrape(client, base) for base in (matcher, notifier)}
        _, [offer] = await _offered_to_lead(client, cfg, receiver, keys, f"metrics-{unique}")
        assert offer.body is not None
        accepted = await client.post(
            f"http://127.0.0.1:{cfg.intake_port}/v1/assignments/"
            f"{offer.body['data']['assignment_id']}/accept",
            headers={"X-API-Key": lead_key},
        )
        assert accepted.status_code == 202, accepted.text

        def moved(base: str, name: str, **labels: str) -> Callable[[Samples], bool]:
            return lambda now: _value(now, name, **labels) > _value(before[base], name, **labels)

        match = "stax_time_to_match_seconds_count"
        after = await eventually(lambda: _scrape(client, matcher), moved(matcher, match), wait=30)
        delivered = {"channel": "webhook", "status": "delivered"}
        sent = moved(notifier, "stax_deliveries_total", **delivered)
        out = await eventually(lambda: _scrape(client, notifier), sent, wait=30)
        intake = await _scrape(client, f"http://127.0.0.1:{cfg.intake_port}")

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before[matcher], name, **labels)

    assert grew("stax_time_to_first_offer_seconds_count") >= 1
    assert grew("stax_time_to_match_seconds_count") >= 1
    offered = grew("stax_offers_total", role="lead", outcome="offered")
    assert offered + grew("stax_offers_total", role="support", outcome="offered") >= 2
    assert grew("stax_offers_total", role="lead", outcome="accepted") >= 1
    assert _value(out, "stax_deliveries_total", **delivered) > _value(
        before[notifier], "stax_deliveries_total", **delivered
    )
    assert _with(after, "stax_waiting_requests")  # sampled
    for samples, service in ((intake, "intake"), (after, "matcher"), (out, "notifier")):
        assert _with(samples, "stax_outbox_backlog", service=service)  # sampled since the start
        assert _with(samples, "stax_outbox_oldest_age_seconds", service=service)
        lags = _with(samples, "stax_consumer_lag", group=f"stax-{service}")
        assert lags and all(lag >= 0 for lag in lags), service
