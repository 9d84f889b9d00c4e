"""The services' logs on a test stack: the launcher writes each service's output to one file
(deploy.local.stack.StackSettings.log_file), which holds one JSON object a line."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deploy.local import stack

# Every line has these (shared.logs).
FIELDS = ("time", "level", "logger", "message", "service")
# FastStream's two lines per message (faststream.middlewares.logging), at DEBUG in STAX.
PER_MESSAGE = ("Received", "Processed")


@dataclass(frozen=True)
class ServiceLog:
    service: str
    text: str

    @classmethod
    def read(cls, cfg: stack.StackSettings, service: str) -> ServiceLog:
        return cls(service, cfg.log_file(service).read_text(errors="replace"))

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed; fails on the first one that is not a JSON object with FIELDS."""
        parsed = []
        for number, line in enumerate(self.text.splitlines(), start=1):
            try:
                found = json.loads(line)
            except json.JSONDecodeError:
                found = None
            assert isinstance(found, dict), f"{self.service}.log line {number}: {line[:300]}"
            missing = [name for name in FIELDS if name not in found]
            assert not missing, f"{self.service}.log line {number} lacks {missing}: {line[:300]}"
            assert found["service"] == self.service, line[:300]
            parsed.append(found)
        return parsed

    def holding(self, needles: Mapping[str, str]) -> list[str]:
        """The names of the needles found anywhere in the log."""
        return [name for name, needle in needles.items() if needle in self.text]

    def complaints(self, most: int) -> list[str]:
        """The last `most` warnings and errors (else the last `most` lines), as written. Unlike
        lines(), it never fails on a line that is not JSON (a traceback, a crash's output): it
        is read to explain a failure, and must not fail itself."""
        lines = self.text.splitlines()
        found = [line for line in lines if _level(line) in {"WARNING", "ERROR", "CRITICAL"}]
        return found[-most:] or lines[-most:]

    def per_message_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["message"] in PER_MESSAGE]


def _level(line: str) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    level = entry.get("level") if isinstance(entry, dict) else None
    return level if isinstance(level, str) else None
