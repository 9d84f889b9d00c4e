"""ServiceLog.complaints explains a failing test, so it reads any log: JSON lines or not."""

from __future__ import annotations

import json

from tests.e2e.service_logs import ServiceLog


def _line(level: str, message: str) -> str:
    return json.dumps({"level": level, "message": message, "service": "notifier"})


def test_the_last_warnings_and_errors_are_given_and_lines_that_are_not_json_passed_over() -> None:
    text = "\n".join(
        [
            _line("WARNING", "first"),
            _line("INFO", "routine"),
            "Traceback (most recent call last):",
            '["a", "list"]',
            _line("ERROR", "second"),
            _line("CRITICAL", "third"),
        ]
    )
    assert ServiceLog("notifier", text).complaints(2) == [
        _line("ERROR", "second"),
        _line("CRITICAL", "third"),
    ]


def test_a_log_without_complaints_gives_its_last_lines() -> None:
    text = "\n".join([_line("INFO", "one"), "not json", _line("DEBUG", "three")])
    assert ServiceLog("notifier", text).complaints(2) == ["not json", _line("DEBUG", "three")]
