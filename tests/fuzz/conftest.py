"""Fuzz suite bookkeeping: how many generated examples each target ran, printed at the end."""

from __future__ import annotations

from collections import Counter
from typing import Any

EXAMPLES: Counter[str] = Counter()
"""target → examples run; a target adds to it from inside its property."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not EXAMPLES:
        return
    terminalreporter.section("fuzz examples run")
    for target, n in sorted(EXAMPLES.items()):
        terminalreporter.write_line(f"{n:8d}  {target}")
