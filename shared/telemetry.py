"""Tracing (brief §7.5): OpenTelemetry, configured only by the standard `OTEL_*` variables.

One request is one trace: intake's HTTP span → the outbox row → the Kafka record → matcher's
span for that record → its outbox row → … → notifier's delivery → the webhook POST. What carries
the context between them:
- an outbox row keeps the context it was written in, in its headers (`traceparent`, and the
  CloudEvents distributed-tracing extension's `ce_traceparent`), and the relay publishes the row
  under that context, so Kafka's record carries it on;
- a consumer starts each record's span as a child of the record's `traceparent`;
- a notifier delivery keeps the context it was queued in (its `traceparent` column), and the
  worker sends it under that context; httpx's instrumentation puts `traceparent` on the POST.

With no exporter configured nothing is installed and every function here returns at its first
line: tracing then costs a flag test per record.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

# The SDK's own reading of OTEL_TRACES_SAMPLER(_ARG), which NoOrphanQueries wraps.
from opentelemetry.sdk.trace.sampling import _get_from_env_or_default as _sampler_from_env
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# The CloudEvents distributed-tracing extension, as a binary-mode Kafka header.
CE_TRACEPARENT = "ce_traceparent"
CE_TRACESTATE = "ce_tracestate"

# Probes and scrapes are called every few seconds by machines: traces of them are noise.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER_NAME = "stax"


class TracingSettingsError(ValueError):
    """The OTEL_* variables ask for something this build cannot do."""


class _State:
    provider: TracerProvider | None = None


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for traces to be exported. An empty variable counts as
    unset (compose passes unset ones as empty)."""

    def value(name: str) -> str:
        return environ.get(name, "").strip().lower()

    if value("OTEL_SDK_DISABLED") == "true" or value("OTEL_TRACES_EXPORTER") == "none":
        return False
    if value("OTEL_TRACES_EXPORTER") in ("otlp", "console"):
        return True
    return bool(value("OTEL_EXPORTER_OTLP_ENDPOINT") or value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def setup(service: str, environ: Mapping[str, str] = os.environ) -> TracerProvider | None:
    """Install tracing for this process when the OTEL_* variables ask for it; None otherwise.

    Called once, by a service's entry point, before its app is built. The SDK itself reads the
    rest of the variables: the endpoint, headers, timeout and compression of the exporter
    (`OTEL_EXPORTER_OTLP_*`), the sampler (`OTEL_TRACES_SAMPLER`, `_ARG`), the batch processor
    (`OTEL_BSP_*`), the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`)."""
    if not configured(environ):
        return None
    if _State.provider is not None:
        return _State.provider
    if isinstance(environ, MutableMapping):
        _forget_empty(environ)
    provider = TracerProvider(resource=_resource(service), sampler=_sampler())
    provider.add_span_processor(BatchSpanProcessor(_exporter(environ)))
    trace.set_tracer_provider(provider)
    _instrument_libraries(provider)
    _State.provider = provider
    # The provider flushes the spans still queued when the process exits (shutdown_on_exit).
    return provider


def _forget_empty(environ: MutableMapping[str, str]) -> None:
    """An empty OTEL_* variable means unset (compose passes unset ones as empty); the SDK would
    read an empty OTEL_TRACES_SAMPLER as an unknown sampler and warn."""
    for name in [k for k, v in environ.items() if k.startswith("OTEL_") and not v.strip()]:
        del environ[name]


def active() -> bool:
    return _State.provider is not None


def _resource(service: str) -> Resource:
    # OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES win; without them, "stax-<service>".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: f"stax-{service}"}))
    return resource


def _exporter(environ: Mapping[str, str]) -> SpanExporter:
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return ConsoleSpanExporter()
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip()
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise TracingSettingsError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: STAX exports OTLP over HTTP "
            "(http/protobuf) only; point it at a collector's port 4318"
        )
    return OTLPSpanExporter()


def _sampler() -> Sampler:
    return NoOrphanQueries(_sampler_from_env())


class NoOrphanQueries(Sampler):
    """The configured sampler, except that a database query outside any trace is dropped.

    Background loops (the outbox relays' polls, the delivery workers' claims, retention) run
    queries under no request; traced, each would be a trace of its own, thousands an hour, that
    says nothing about any request. A query inside a request's trace is sampled as that trace is."""

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(  # noqa: PLR0917 - the Sampler interface's signature
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and kind is SpanKind.CLIENT and _is_query(attributes):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanQueries{{{self._delegate.get_description()}}}"


def _is_query(attributes: Attributes) -> bool:
    if not attributes:
        return False
    return "db.system" in attributes or "db.system.name" in attributes


def _instrument_libraries(provider: TracerProvider) -> None:
    """httpx (intake's calls to the other services, notifier's webhooks) and asyncpg, for the
    whole process. FastAPI apps and the Kafka broker are instrumented where they are built
    (`instrument_app`, `kafka_middlewares`)."""
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]


def instrument_app(app: Any) -> None:
    """Server spans for a FastAPI app's routes (probes and /metrics left out)."""
    if _State.provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_State.provider,
        excluded_urls=EXCLUDED_URLS,
        # The ASGI receive/send spans under each request double the spans and say little.
        exclude_spans=["receive", "send"],
    )


def kafka_middlewares() -> tuple[Any, ...]:
    """FastStream's telemetry middleware (a span per publish and per consumed batch, linked to
    the batch's records) when tracing is on; nothing otherwise."""
    if _State.provider is None:
        return ()
    return (KafkaTelemetryMiddleware(tracer_provider=_State.provider),)


def inject(headers: MutableMapping[str, str]) -> None:
    """Write the current context into a record's headers, as W3C `traceparent` (+ `tracestate`)
    and as the CloudEvents extension's `ce_traceparent` (+ `ce_tracestate`)."""
    if _State.provider is None:
        return
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    if TRACEPARENT not in carrier:
        return  # no span is current
    headers[TRACEPARENT] = headers[CE_TRACEPARENT] = carrier[TRACEPARENT]
    if TRACESTATE in carrier:
        headers[TRACESTATE] = headers[CE_TRACESTATE] = carrier[TRACESTATE]


def current_traceparent() -> str | None:
    """The current context as one `traceparent` value (to store with a row), or None."""
    if _State.provider is None:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get(TRACEPARENT)


def _extract(headers: Mapping[str, str]) -> Context:
    """The context a record's headers carry: the transport's `traceparent`, else the CloudEvents
    extension's. A malformed value is ignored by the propagator (a new trace starts)."""
    if TRACEPARENT in headers:
        return _PROPAGATOR.extract(headers)
    if CE_TRACEPARENT in headers:
        carrier = {TRACEPARENT: headers[CE_TRACEPARENT]}
        if CE_TRACESTATE in headers:
            carrier[TRACESTATE] = headers[CE_TRACESTATE]
        return _PROPAGATOR.extract(carrier)
    return Context()


def _text_headers(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """Only the trace headers, decoded leniently: they come from outside our trust boundary."""
    wanted = (TRACEPARENT, TRACESTATE, CE_TRACEPARENT, CE_TRACESTATE)
    return {k: (v or b"")[:512].decode("utf-8", "replace") for k, v in headers if k in wanted}


@contextlib.contextmanager
def consuming(
    headers: Sequence[tuple[str, bytes | None]], *, topic: str, attributes: Attributes = None
) -> Iterator[None]:
    """A consumer span for one record, child of the context the record carries."""
    if _State.provider is None:
        yield
        return
    parent = _extract(_text_headers(headers))
    tracer = _State.provider.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(
        f"{topic} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ):
        yield


@contextlib.contextmanager
def restored(headers: Mapping[str, str]) -> Iterator[None]:
    """Make the context stored in an outbox row's headers current (the relay publishes each row
    under it: FastStream's publish span is then that request's)."""
    if _State.provider is None:
        yield
        return
    token = otel_context.attach(_extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def continued(
    traceparent: str | None, name: str, *, attributes: Attributes = None
) -> Iterator[None]:
    """A span, child of a stored `traceparent` (a new trace when there is none)."""
    if _State.provider is None:
        yield
        return
    parent = _PROPAGATOR.extract({TRACEPARENT: traceparent}) if traceparent else Context()
    tracer = _State.provider.get_tracer(_TRACER_NAME)
    with tracer.start_as_current_span(name, context=parent, attributes=attributes):
        yield
