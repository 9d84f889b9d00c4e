"""Data PostgreSQL can never store, found before anything tries to.

Python's JSON decoder accepts NaN and ±Infinity (not JSON at all), U+0000 and lone surrogates
(valid JSON escapes); PostgreSQL refuses each of them in text and jsonb. Refused at the door
(an HTTP body: 422; a Kafka record: poison), they get a clear reason; met inside a transaction,
they were a server error (HTTP 500) or a record retried as if a handler had a bug. Found by the
fuzz tests (tests/fuzz), at both doors.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

UNSTORABLE_TEXT = "unstorable_text"
NOT_JSON = "not_json"
MAX_PATH = 200  # characters of a field's path in an answer


@dataclass(frozen=True)
class Unstorable:
    """Where (JSON path, dotted; None for the whole value), what code, and why."""

    field: str | None
    code: str
    message: str


def text_problem(text: str) -> str | None:
    """Why PostgreSQL cannot store `text`, or None."""
    if "\x00" in text:
        return "a string holds U+0000 (\\u0000)"
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return f"a string holds a lone surrogate: {exc}"
    return None


def first_unstorable(data: Any) -> Unstorable | None:
    """The first key, string or number in decoded JSON `data` that PostgreSQL cannot store.
    Walked with a stack, not recursion: the decoder allows data nested almost as deep as the
    recursion limit."""
    stack: list[tuple[Any, str | None]] = [(data, None)]
    while stack:
        item, path = stack.pop()
        found = _problem(item, path)
        if found is not None:
            return found
        if isinstance(item, dict):
            for key, value in item.items():
                where = _join(path, str(key))
                problem = text_problem(str(key))
                if problem is not None:
                    return Unstorable(where, UNSTORABLE_TEXT, f"a key: {problem}")
                stack.append((value, where))
        elif isinstance(item, list):
            stack.extend((value, _join(path, str(n))) for n, value in enumerate(item))
    return None


def _problem(item: Any, path: str | None) -> Unstorable | None:
    if isinstance(item, str):
        problem = text_problem(item)
        return None if problem is None else Unstorable(path, UNSTORABLE_TEXT, problem)
    if isinstance(item, float) and not math.isfinite(item):
        return Unstorable(path, NOT_JSON, f"{item!r} is not a JSON number")
    return None


def _join(path: str | None, step: str) -> str:
    # A key PostgreSQL cannot store cannot be written in an answer either (UTF-8 has no lone
    # surrogates): such a step is written escaped. Paths are clipped: keys are anyone's text.
    if text_problem(step) is not None:
        step = json.dumps(step)[1:-1]
    joined = step if path is None else f"{path}.{step}"
    return joined[:MAX_PATH]
