"""A service process's log lines: one JSON object a line on stderr (brief §7.5), or text.

Every record carries the fields bound with `log_context` (request_id, ce_id) where the code that
logs runs inside one, and the ids of the current OpenTelemetry span when there is one.
`configure_logging` routes every logger of the process, uvicorn's and the libraries', through one
handler, so each line of a service's output is the same kind.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

FORMATS = ("json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that print what must not reach the logs: httpx logs every request's URL at INFO, and a
# partner's webhook URL may carry a token in its path or query.
QUIETED = {"httpx": logging.WARNING}

# Replaced, never mutated: a task that copied the context keeps the values it saw.
_FIELDS: ContextVar[Mapping[str, str]] = ContextVar("stax_log_fields", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every record logged inside the block, in this task and the tasks it starts, carries
    `fields`; a None value leaves the field as the enclosing block had it. Nests, restoring the
    enclosing values on exit."""
    known = {name: value for name, value in fields.items() if value is not None}
    token = _FIELDS.set(MappingProxyType({**_FIELDS.get(), **known}))
    try:
        yield
    finally:
        _FIELDS.reset(token)


def log_fields() -> dict[str, str]:
    """The fields bound here, and trace_id / span_id when a valid span is current."""
    fields = dict(_FIELDS.get())
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    return fields


class JsonLines(JsonFormatter):
    """time, level, logger, message, service, the bound fields, any `extra`, then exc_info."""

    def __init__(self, service: str) -> None:
        # uvicorn adds `color_message`, the message again with terminal colours.
        super().__init__(reserved_attrs=[*RESERVED_ATTRS, "taskName", "color_message"])
        self._service = service

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data.update(
            time=datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            message=record.message,
            service=self._service,
        )
        log_data.update(log_fields())
        extra: dict[str, Any] = {}
        merge_record_extra(record, extra, reserved=self._skip_fields)
        for name, value in (extra | message_dict).items():
            log_data.setdefault(name, value)  # an `extra` never hides a field above


def formatter(fmt: str, *, service: str) -> logging.Formatter:
    if fmt == "json":
        return JsonLines(service)
    if fmt == "text":  # for a developer's terminal
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format {fmt!r}: choose one of {', '.join(FORMATS)}")


def configure_logging(level: str, *, service: str, fmt: str = "json") -> None:
    """Root logging to stderr in `fmt`, at `level`, replacing any handler set before. uvicorn
    must then be started with `log_config=None`, so that its loggers propagate here."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt, service=service))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    for name, quiet in QUIETED.items():
        logging.getLogger(name).setLevel(max(quiet, logging.getLogger().level))
    logging.captureWarnings(True)  # a library's warning is a log line like any other
    # What Python would print to stderr itself is logged instead, in the same format.
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread
    sys.unraisablehook = _log_unraisable


_UNCAUGHT = logging.getLogger("stax.uncaught")


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    _UNCAUGHT.critical("uncaught exception", exc_info=(kind, value, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    _UNCAUGHT.error("uncaught exception in %s", args.thread, exc_info=args.exc_value)


def _log_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    where = unraisable.err_msg or "Exception ignored in"
    _UNCAUGHT.warning("%s: %r", where, unraisable.object, exc_info=unraisable.exc_value)
