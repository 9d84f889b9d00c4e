"""Hypothesis strategies for Kafka records as a hostile or careless producer would write them.

Three families, from rawest to nearly right:
- `garbage_records`: arbitrary bytes for the value and the key, and arbitrary header lists
  (missing, duplicated, null, non-UTF-8 or huge `ce_*` headers, a wrong `ce_specversion`);
- `hostile_json_records`: valid CloudEvents headers around hostile JSON (huge lists, nesting down
  to ~10,000 levels, wrong types, unknown fields, huge strings, NaN/Infinity, duplicate keys,
  U+0000 and lone surrogates);
- `near_valid_records`: for one ce_type, a valid event whose data had one field removed, retyped
  or made hostile, or unknown fields added (sometimes left valid, so the applying path runs too).

`records(topic, ce_types)` mixes the three for one consumer; values are `Raw` (the parts of a
Kafka record), turned into an `aiokafka.ConsumerRecord` by `consumer_record`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from typing import Any
from uuid import uuid4

from aiokafka import ConsumerRecord
from hypothesis import strategies as st

from tests.intake.samples import submission

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Raw:
    """One Kafka record's parts, as produced."""

    value: bytes | None
    key: bytes | None
    headers: Headers
    kind: str  # which family made it, for the statistics

    def size(self) -> int:
        return len(self.value or b"") + sum(len(k) + len(v or b"") for k, v in self.headers)


def consumer_record(
    raw: Raw, topic: str, offset: int, partition: int = 0
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=raw.key,
        value=raw.value,
        checksum=None,
        serialized_key_size=len(raw.key or b""),
        serialized_value_size=len(raw.value or b""),
        headers=tuple(raw.headers),
    )


# ----------------------------------------------------------------------------- valid samples


def _submission() -> dict[str, Any]:
    return submission(f"fuzz-{uuid4().hex[:8]}")


def _outcome() -> dict[str, Any]:
    return {
        "assignment_id": str(uuid4()),
        "request_id": str(uuid4()),
        "partner_id": "unido",
        "reason": "fuzz",
    }


def _notification() -> dict[str, Any]:
    return {
        "delivery_id": str(uuid4()),
        "event_id": str(uuid4()),
        "request_id": str(uuid4()),
        "partner_id": "unido",
        "channel": "webhook",
        "attempts": 1,
        "last_error": None,
    }


def _sample(ce_type: str) -> dict[str, Any]:
    """Valid data of each event type STAX's consumers handle (fresh ids every call)."""
    now = datetime.now(UTC)
    match ce_type:
        case "ta.request.submitted":
            return _submission()
        case "ta.request.accepted":
            return _submission() | {
                "request_id": str(uuid4()),
                "submitter": "fuzz",
                "region": "AFR",
                "eligibility": {
                    "developing": True,
                    "economy_in_transition": False,
                    "ldc": True,
                    "sids": False,
                },
                "accepted_at": now.isoformat(),
            }
        case "ta.request.matched" | "ta.request.unmatched":
            return {"request_id": str(uuid4()), "partners": ["unido"], "uncovered_topics": []}
        case "ta.request.erased":
            return {"request_id": str(uuid4()), "erased_at": now.isoformat()}
        case "ta.assignment.offered":
            return {
                "assignment_id": str(uuid4()),
                "request_id": str(uuid4()),
                "partner_id": "unido",
                "partner_name": "UNIDO",
                "role": "lead",
                "score": 0.8,
                "reasons": ["covers PCB"],
                "covers_topics": ["PCB"],
                "respond_by": (now + timedelta(days=5)).isoformat(),
            }
        case "ta.assignment.accepted" | "ta.assignment.declined" | "ta.assignment.expired":
            return _outcome()
        case "ta.assignment.started" | "ta.assignment.withdrawn":
            return _outcome()
        case "ta.assignment.completed":
            return _outcome() | {
                "outcome": "fuzz delivered",
                "deliverables": ["https://example.org/fuzz.pdf"],
            }
        case "ta.request.waiting":
            return {
                "request_id": str(uuid4()),
                "partners": ["unido"],
                "topics": ["PCB"],
                "reason": "fuzz",
            }
        case "ta.request.completed":
            return {"request_id": str(uuid4()), "partners": ["unido"]}
        case "ta.request.closed" | "ta.request.closing":
            return {
                "request_id": str(uuid4()),
                "closed_by": "submitter",
                "rating": 4,
                "comment": "fuzz",
            }
        case "ta.assignment.response":
            return {"assignment_id": str(uuid4()), "partner_id": "unido", "decision": "accept"}
        case "ta.notification.delivered" | "ta.notification.failed":
            return _notification()
        case "ta.portal.sign_in_requested":
            return {"email_sha256": sha256(b"desk@example.org").hexdigest(), "language": "en"}
    raise ValueError(f"no sample for {ce_type}")


def ce_headers(ce_type: str, **changes: bytes | None) -> Headers:
    """Valid binary-mode CloudEvents headers; `changes` replace (or, with None, null) some."""
    headers: dict[str, bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": str(uuid4()).encode(),
        "ce_source": b"/fuzz",
        "ce_type": ce_type.encode(),
        "ce_time": datetime.now(UTC).isoformat().encode(),
        "ce_subject": str(uuid4()).encode(),
        "content-type": b"application/json",
    }
    headers.update(changes)
    return list(headers.items())


# ----------------------------------------------------------------------------- hostile JSON

# A JSON text fragment; rendered by hand so that what `json.dumps` refuses to write (duplicate
# keys, NaN) can be written too.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
).map(json.dumps)

_nasty_literals = st.sampled_from(
    [
        "NaN",
        "Infinity",
        "-Infinity",
        "1e999",  # a float that overflows to inf
        "9" * 5000,  # an integer longer than Python's default int-string limit (4300 digits)
        '"\\u0000"',  # NUL: valid JSON, refused by PostgreSQL in text and jsonb
        '"\\ud800"',  # a lone surrogate: valid JSON, not encodable as UTF-8
        '"nul\\u0000inside"',
        '"x\\udfffy"',
        "-0",
        "1.0e-400",
        '""',
        "[]",
        "{}",
    ]
)


@st.composite
def _deep(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([50, 500, 990, 1_500, 5_000, 10_000]))
    if draw(st.booleans()):
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def _huge(draw: st.DrawFn) -> str:
    n = draw(st.sampled_from([1_000, 20_000, 100_000]))
    match draw(st.sampled_from(["list", "string", "object", "strings"])):
        case "list":
            return "[" + ",".join(["0"] * n) + "]"
        case "string":
            return json.dumps("x" * (n * 3))
        case "object":
            return "{" + ",".join(f'"k{i}":{i}' for i in range(n // 10)) + "}"
        case _:
            return "[" + ",".join(['"zz"'] * n) + "]"


_KEYS = st.sampled_from(
    ["a", "external_ref", "request_id", "partner_id", "data", "", "\u0000", "é", "__proto__"]
)


def _object(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # A list of pairs, not a dict: duplicate keys are kept.
    return st.lists(st.tuples(_KEYS, values), max_size=5).map(
        lambda pairs: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"
    )


hostile_json: st.SearchStrategy[str] = st.recursive(
    st.one_of(_scalars, _nasty_literals, _deep(), _huge()),
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        _object(children),
    ),
    max_leaves=6,
)
"""A JSON text (or an almost-JSON one: NaN, Infinity) of hostile shape and size."""


# ----------------------------------------------------------------------------- records


_HEADER_NAMES = st.sampled_from(
    [
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_dataschema",
        "ce_extension",
        "content-type",
        "ce_",
        "CE_TYPE",
        "x-dlq-reason",
        "",
    ]
)


def _header_value(ce_types: list[str]) -> st.SearchStrategy[bytes | None]:
    return st.one_of(
        st.none(),
        st.binary(max_size=64),
        st.uuids().map(lambda u: str(u).encode()),
        st.sampled_from(
            [
                b"1.0",
                b"0.3",
                b"2.0",
                b"",
                b"\xff\xfe",
                b"application/json",
                b"text/plain",
                b"not-a-uuid",
                b"2024-02-30T25:61:00Z",
                b"2024-01-01T00:00:00",  # no offset
                b"9999-12-31T23:59:59Z",
                b"x" * 200_000,  # a huge header
                *(t.encode() for t in ce_types),
            ]
        ),
    )


def garbage_records(ce_types: list[str]) -> st.SearchStrategy[Raw]:
    """Arbitrary value and key bytes under arbitrary headers (ce_* or not, repeated, null)."""
    headers = st.lists(
        st.tuples(_HEADER_NAMES | st.text(max_size=12), _header_value(ce_types)), max_size=10
    )
    starts_valid = st.builds(
        lambda t, extra: ce_headers(t) + extra,
        st.sampled_from(ce_types),
        headers,
    )
    return st.builds(
        Raw,
        value=st.none()
        | st.binary(max_size=512)
        | st.sampled_from([b"{}", b"[]", b"null", b'"x"', b"1"]),
        key=st.none() | st.binary(max_size=40),
        headers=headers | starts_valid,
        kind=st.just("garbage"),
    )


def hostile_json_records(ce_types: list[str]) -> st.SearchStrategy[Raw]:
    """Valid CloudEvents headers around hostile JSON data."""
    return st.builds(
        lambda t, body, key: Raw(
            body.encode("utf-8", "surrogatepass"), key, ce_headers(t), "hostile_json"
        ),
        st.sampled_from(ce_types),
        hostile_json | _object(hostile_json),
        st.none() | st.binary(max_size=40),
    )


_WRONG = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and ±Infinity included
    st.text(max_size=30),
    st.just("x" * 100_000),
    st.just(["PCB"] * 50_000),
    st.just({"nested": {"deeper": []}}),
    st.lists(st.integers(), max_size=3),
    st.just("\u0000"),
)


@st.composite
def _near_valid(draw: st.DrawFn, ce_type: str) -> Raw:
    data = _sample(ce_type)
    mutation = draw(st.sampled_from(["valid", "drop", "retype", "unknown", "nested", "header"]))
    changes: dict[str, bytes | None] = {}
    if mutation == "drop" and data:
        data.pop(draw(st.sampled_from(sorted(data))))
    elif mutation == "retype" and data:
        data[draw(st.sampled_from(sorted(data)))] = draw(_WRONG)
    elif mutation == "unknown":
        data[draw(st.text(min_size=1, max_size=20))] = draw(_WRONG)
    elif mutation == "nested" and "contact" in data:
        data["contact"][draw(st.sampled_from(["name", "email", "organisation", "x"]))] = draw(
            _WRONG
        )
    elif mutation == "header":
        name = draw(
            st.sampled_from(
                ["ce_specversion", "ce_id", "ce_time", "ce_source", "ce_subject", "content-type"]
            )
        )
        changes[name] = draw(_header_value([ce_type]))
    body = json.dumps(data, allow_nan=True).encode("utf-8", "surrogatepass")
    key = (
        (data.get("request_id") or str(uuid4()))
        if isinstance(data.get("request_id"), str)
        else None
    )
    return Raw(
        body,
        key.encode() if key else None,
        ce_headers(ce_type, **changes),
        f"near_valid.{mutation}",
    )


def near_valid_records(ce_types: list[str]) -> st.SearchStrategy[Raw]:
    return st.sampled_from(ce_types).flatmap(_near_valid)


def records(ce_types: list[str]) -> st.SearchStrategy[Raw]:
    """Everything above, for a consumer that handles `ce_types` (plus a foreign type or two)."""
    types = [*ce_types, "ta.request.rejected", "com.example.other"]
    return st.one_of(
        garbage_records(types),
        hostile_json_records(types),
        near_valid_records(ce_types),
        near_valid_records(ce_types),  # weighted: most records should look like the real thing
    )
