"""A local OTLP/HTTP trace receiver (tests and the benchmark's tracing-on run).

It stands in for an OpenTelemetry Collector: it accepts `POST /v1/traces` bodies in the OTLP
protobuf encoding (gzip or not), decodes them with `opentelemetry-proto`, and keeps the spans.
"""

from __future__ import annotations

import argparse
import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from deploy.local.receiver import ServedInThread

# OTLP's span kinds, by their protobuf numbers.
KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
# A body larger than this is refused (413): the receiver runs beside tests, not as a service.
MAX_BODY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    scope: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root span
    attributes: dict[str, Any]
    start_ns: int
    end_ns: int

    @property
    def millis(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass
class OtlpReceiver(ServedInThread):
    """Serves on 127.0.0.1:`port` (0 = any free port) in a background thread."""

    port: int = 0
    keep: bool = True  # False: count the spans, keep none (a long benchmark run)
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    counted: int = 0
    _server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def endpoint(self) -> str:
        """The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                if self.path != "/v1/traces" or length > MAX_BODY_BYTES:
                    self.send_response(404 if self.path != "/v1/traces" else 413)
                    self.end_headers()
                    return
                body = self.rfile.read(length)
                if self.headers.get("content-encoding", "") == "gzip":
                    body = gzip.decompress(body)
                receiver._record(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                answer = json.dumps({"requests": receiver.requests, "spans": receiver.counted})
                self.send_response(200 if self.path == "/count" else 404)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._serve(ThreadingHTTPServer(("127.0.0.1", self.port), Handler))
        return self

    def _record(self, request: ExportTraceServiceRequest) -> None:
        spans = [
            _span(_attributes(rs.resource.attributes).get("service.name", ""), ss.scope.name, s)
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for s in ss.spans
        ]
        with self._arrived:
            self.requests += 1
            self.counted += len(spans)
            if self.keep:
                self.spans.extend(spans)
            self._arrived.notify_all()

    def trace(self, trace_id: str) -> list[ReceivedSpan]:
        with self._arrived:
            return [s for s in self.spans if s.trace_id == trace_id]

    def wait_for(
        self, done: Callable[[list[ReceivedSpan]], bool], timeout: float
    ) -> list[ReceivedSpan]:
        """Block until the spans received satisfy `done` (or `timeout` passes); return them."""
        with self._arrived:
            self._arrived.wait_for(lambda: done(self.spans), timeout)
            return list(self.spans)


def _span(service: str, scope: str, span: Span) -> ReceivedSpan:
    return ReceivedSpan(
        service=service,
        scope=scope,
        name=span.name,
        kind=KINDS.get(span.kind, str(span.kind)),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        attributes=_attributes(span.attributes),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
    )


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair) for pair in pairs}


def _value(pair: KeyValue) -> Any:
    value: AnyValue = pair.value
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind)
        if kind in {"string_value", "int_value", "bool_value", "double_value"}
        else str(value)
    )


def tree(spans: list[ReceivedSpan]) -> str:
    """The spans of one trace as an indented tree, children in start order (for people)."""
    by_parent: dict[str, list[ReceivedSpan]] = {}
    ids = {s.span_id for s in spans}
    for span in sorted(spans, key=lambda s: s.start_ns):
        parent = span.parent_id if span.parent_id in ids else ""
        by_parent.setdefault(parent, []).append(span)
    start = min((s.start_ns for s in spans), default=0)
    lines: list[str] = []

    def walk(parent: str, depth: int) -> None:
        for span in by_parent.get(parent, []):
            offset = (span.start_ns - start) / 1e6
            lines.append(
                f"{'  ' * depth}{span.service} · {span.name} ({span.kind}) "
                f"+{offset:.1f} ms, {span.millis:.1f} ms"
            )
            walk(span.span_id, depth + 1)

    walk("", 0)
    return "\n".join(lines)


def main() -> None:
    """Serve until killed, counting spans (GET /count): the benchmark's trace sink, run as a
    process of its own so that decoding spans costs the load generator nothing."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    OtlpReceiver(port=args.port, keep=False).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
