"""shared.telemetry without a collector: which OTEL_* settings turn tracing on, how a context
travels through headers, and the sampler that keeps background queries out of the traces."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
from opentelemetry.trace import SpanKind

from shared import telemetry

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Tracing on for the test, its spans kept in memory (the process-wide state restored)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=telemetry.NoOrphanQueries(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = telemetry._State.provider
    telemetry._State.provider = provider
    yield exporter
    telemetry._State.provider = saved


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),  # compose passes unset variables as empty
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SERVICE_NAME": "intake"}, False),  # a name alone exports nothing
    ],
)
def test_only_an_exporter_turns_tracing_on(environ: dict[str, str], on: bool) -> None:
    assert telemetry.configured(environ) is on


def test_nothing_is_installed_without_an_exporter() -> None:
    assert telemetry.setup("intake", {}) is None
    assert not telemetry.active()
    headers = {"ce_id": "x"}
    telemetry.inject(headers)
    assert headers == {"ce_id": "x"}
    assert telemetry.kafka_middlewares() == ()
    assert telemetry.current_traceparent() is None


def test_empty_otel_variables_count_as_unset() -> None:
    environ = {"OTEL_TRACES_SAMPLER": " ", "OTEL_SERVICE_NAME": "x", "STAX_LOG_LEVEL": ""}
    telemetry._forget_empty(environ)
    assert environ == {"OTEL_SERVICE_NAME": "x", "STAX_LOG_LEVEL": ""}


def test_a_grpc_exporter_is_refused_with_a_clear_reason() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    with pytest.raises(telemetry.TracingSettingsError, match="http/protobuf"):
        telemetry._exporter(environ)


def test_a_record_written_under_a_span_carries_it_in_both_headers(
    spans: InMemorySpanExporter,
) -> None:
    tracer = trace.get_tracer("test", tracer_provider=telemetry._State.provider)
    with tracer.start_as_current_span("work") as span:
        headers: dict[str, str] = {}
        telemetry.inject(headers)
        stored = telemetry.current_traceparent()
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert headers["traceparent"] == headers["ce_traceparent"] == stored
    assert stored is not None and stored.split("-")[1] == trace_id


@pytest.mark.parametrize("header", ["traceparent", "ce_traceparent"])
def test_a_consumed_record_continues_the_trace_it_carries(
    spans: InMemorySpanExporter, header: str
) -> None:
    with telemetry.consuming([(header, PARENT.encode())], topic="ta.requests.v1"):
        pass
    (span,) = spans.get_finished_spans()
    assert span.name == "ta.requests.v1 process"
    assert span.kind is SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == PARENT.split("-")[1]
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT.split("-")[2]


@pytest.mark.parametrize(
    "value",
    [
        b"garbage",
        b"\xff\xfe",
        None,
        b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",
        PARENT.encode() + b"x" * 100_000,  # oversized: read no further than its first 512 bytes
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(
    spans: InMemorySpanExporter, value: bytes | None
) -> None:
    """Headers come from outside the trust boundary: a bad one is ignored, never an error."""
    with telemetry.consuming([("traceparent", value)], topic="t"):
        pass
    (span,) = spans.get_finished_spans()
    assert span.parent is None


def test_a_delivery_continues_the_trace_it_was_queued_in(spans: InMemorySpanExporter) -> None:
    with telemetry.continued(PARENT, "deliver webhook"):
        pass
    with telemetry.continued(None, "deliver email"):
        pass
    webhook, email = spans.get_finished_spans()
    assert format(webhook.context.trace_id, "032x") == PARENT.split("-")[1]
    assert email.parent is None


def test_the_relay_publishes_under_the_rows_context(spans: InMemorySpanExporter) -> None:
    with telemetry.restored({"traceparent": PARENT}):
        current = trace.get_current_span().get_span_context()
    assert format(current.span_id, "016x") == PARENT.split("-")[2]
    assert not trace.get_current_span().get_span_context().is_valid  # detached again


def test_queries_outside_any_trace_are_not_sampled(spans: InMemorySpanExporter) -> None:
    sampler = telemetry.NoOrphanQueries(ALWAYS_ON)
    query = {"db.system": "postgresql", "db.statement": "SELECT 1"}
    orphan = sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT, query)
    assert orphan.decision is Decision.DROP
    other = sampler.should_sample(None, 1, "POST", SpanKind.CLIENT, {"http.method": "POST"})
    assert other.decision is Decision.RECORD_AND_SAMPLE
    tracer = trace.get_tracer("test", tracer_provider=telemetry._State.provider)
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=query):
        pass  # a relay's poll: dropped
    with (
        tracer.start_as_current_span("request"),
        tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=query),
    ):
        pass  # a request's query: kept
    assert [s.name for s in spans.get_finished_spans()] == ["SELECT", "request"]
