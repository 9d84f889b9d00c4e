"""Log lines (shared.logs): JSON objects with the bound fields and the current span's ids; text
on request. The end-to-end check that a whole flow logs neither a secret nor a person's data is
tests/e2e/test_personal_data.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.logs import JsonLines, formatter, log_context, log_fields
from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines into a buffer (the root logger is left alone)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines("intake"))
    logger = logging.getLogger("stax.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def _parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_time_level_logger_message_and_service(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    logger.info("offered slot %d to %s", 1, "scrc-senegal")
    [line] = _parsed(out)
    assert list(line)[:5] == ["time", "level", "logger", "message", "service"]
    assert line["level"] == "INFO" and line["logger"] == "stax.test.logs"
    assert line["message"] == "offered slot 1 to scrc-senegal" and line["service"] == "intake"
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None  # ISO 8601, UTC
    assert line["time"].endswith("+00:00")
    assert not {"request_id", "ce_id", "trace_id", "span_id", "exc_info"} & set(line)


def test_fields_bound_by_log_context_are_on_every_record_inside_and_gone_after(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    with log_context(request_id="r-1", ce_id="c-1"):
        logger.info("outer")
        with log_context(ce_id="c-2", request_id=None):  # None: the request stays the outer one
            logger.info("inner")
        logger.info("outer again")
    logger.info("outside")
    found = [(line.get("request_id"), line.get("ce_id")) for line in _parsed(out)]
    assert found == [("r-1", "c-1"), ("r-1", "c-2"), ("r-1", "c-1"), (None, None)]


async def test_bound_fields_follow_their_task_across_awaits_and_never_leak_to_another(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines

    async def consume(ce_id: str) -> None:
        with log_context(ce_id=ce_id):
            await asyncio.sleep(0.01)  # the other task runs meanwhile
            logger.info("applied %s", ce_id)

    await asyncio.gather(consume("a"), consume("b"))
    logger.info("after")
    assert sorted((line["message"], line.get("ce_id")) for line in _parsed(out)) == [
        ("after", None),
        ("applied a", "a"),
        ("applied b", "b"),
    ]


def test_trace_and_span_ids_are_the_current_valid_spans_in_lower_case_hex(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    context = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(context)):
        logger.info("in a span")
    logger.info("in none")  # no SDK set up: the current span is invalid, the fields absent
    inside, outside = _parsed(out)
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert inside["span_id"] == "b7ad6b7169203331"
    assert "trace_id" not in outside and "span_id" not in outside
    assert "trace_id" not in log_fields()


def test_an_exception_is_logged_as_its_traceback_text(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    try:
        raise RuntimeError("the attempt raised")
    except RuntimeError:
        logger.exception("delivery failed")
    [line] = _parsed(out)
    assert line["exc_info"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the attempt raised" in line["exc_info"]


def test_an_extra_field_is_kept_but_never_hides_a_field_of_the_line(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    with log_context(request_id="r-1"):
        logger.info("x", extra={"service": "forged", "request_id": "forged", "topic": "t"})
    [line] = _parsed(out)
    assert (line["service"], line["request_id"], line["topic"]) == ("intake", "r-1", "t")


def test_text_keeps_the_human_format_and_json_is_the_default_setting() -> None:
    record = logging.LogRecord("stax.http", logging.INFO, __file__, 1, "serving %s", ("x",), None)
    text = formatter("text", service="intake").format(record)
    assert text.endswith(" INFO stax.http: serving x")
    assert ServiceSettings().log_format == "json"
    with pytest.raises(ValueError, match="log format"):
        formatter("xml", service="intake")


# In a process of its own, as a service runs it: the root logger, uvicorn's and httpx's loggers,
# a library's warning, and the exceptions Python would print itself.
PROCESS = """
import logging, threading, warnings
import uvicorn
from shared.logs import configure_logging, log_context
logging.basicConfig(format="%(message)s")  # what was there before is replaced
configure_logging("info", service="matcher", fmt="json")
uvicorn.Config(lambda: None, log_config=None, log_level="info")  # as run_http makes it
logging.getLogger("uvicorn.error").info("Started server process")
logging.getLogger("httpx").info("HTTP Request: POST https://partner.example/hook?token=s3cret")
logging.getLogger("stax.matcher").debug("not at INFO")
warnings.warn("a library's warning")
worker = threading.Thread(target=lambda: 1 / 0, name="worker")
worker.start(); worker.join()
class Leaky:
    def __del__(self) -> None:
        raise ValueError("in __del__")
Leaky()
with log_context(ce_id="c-1"):
    raise RuntimeError("the end")
"""


def test_a_configured_process_writes_nothing_but_json_lines_to_stderr() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROCESS], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 1 and done.stdout == ""
    found = [json.loads(line) for line in done.stderr.splitlines()]
    assert {line["service"] for line in found} == {"matcher"}
    assert [(line["logger"], line["level"]) for line in found] == [
        ("uvicorn.error", "INFO"),
        ("py.warnings", "WARNING"),
        ("stax.uncaught", "ERROR"),  # in a thread
        ("stax.uncaught", "WARNING"),  # in __del__, which Python cannot raise
        ("stax.uncaught", "CRITICAL"),
    ]
    assert "s3cret" not in done.stderr  # httpx's request lines are not logged
    assert "RuntimeError: the end" in found[-1]["exc_info"]
