"""A local webhook receiver that verifies Standard Webhooks signatures (demo and tests).

It stands in for a partner's server: every POST is checked with the `standardwebhooks` library
against the endpoint secret(s) it was given; verified and refused deliveries are both recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    webhook_id: str
    verified: bool
    body: dict[str, Any] | None
    headers: dict[str, str]
    error: str | None = None


class ServedInThread:
    """An HTTP server of the receivers' kind, run in a daemon thread until `stop()`."""

    _server: ThreadingHTTPServer | None

    def _serve(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@dataclass
class WebhookReceiver(ServedInThread):
    """Serves on 127.0.0.1:`port` (0 = any free port) in a background thread."""

    port: int = 0
    secrets: list[str] = field(default_factory=list)
    on_receive: Callable[[Received], None] | None = None
    status_code: int = 204
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver._record(body.decode(errors="replace"), dict(self.headers.items()))
                self.send_response(receiver.status_code)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the demo prints its own lines

        self._serve(ThreadingHTTPServer(("127.0.0.1", self.port), Handler))
        return self

    def _record(self, body: str, headers: dict[str, str]) -> None:
        lowered = {k.lower(): v for k, v in headers.items()}
        item = self._verify(body, lowered)
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()
        if self.on_receive is not None:
            self.on_receive(item)

    def wait_for(self, wanted: Callable[[Received], bool], timeout: float) -> list[Received]:
        """Block until some delivery satisfies `wanted` (or `timeout` passes); return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: any(map(wanted, self.received)), timeout)
            return [r for r in self.received if wanted(r)]

    def _verify(self, body: str, headers: dict[str, str]) -> Received:
        webhook_id = headers.get("webhook-id", "")
        error = "no secret configured"
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                error = str(exc)
                continue
            return Received(webhook_id, True, json.loads(body), headers)
        return Received(webhook_id, False, None, headers, error)
