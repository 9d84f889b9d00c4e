"""The HTTP input models of matcher's partner registry and notifier's subscriptions are bounded:
an overlong field is one error at that field, and no error echoes a long input back (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.matcher.adapters import reference_data
from services.matcher.domain import PartnerPatch, PartnerSpec, check_partner
from services.notifier.schemas import ContactIn, EndpointIn, EndpointPatch, KafkaChannelIn, RotateIn

TAXONOMY = reference_data.load_taxonomy()
TAIL = "END-OF-A-LONG-INPUT"
SECRET = "whsec_" + "A" * 32


def _partner(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "partner_id": "p-1",
        "name": "P",
        "kind": "igo",
        "serves_global": True,
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["en"],
        "capacity": 3,
    }
    return base | changes


def _refusal(model: type[BaseModel], raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(raw)
    errors = caught.value.errors(include_input=False)
    assert all(TAIL not in e["msg"] for e in errors), "an error echoed the long input"
    return [(".".join(map(str, e["loc"])), e["type"]) for e in errors]


def _case(name: str, model: type[BaseModel], raw: dict[str, Any], field: str, code: str) -> Any:
    return pytest.param(model, raw, [(field, code)], id=name)


LONG_CODE = "x" * 100 + TAIL
MANY = 100_000


@pytest.mark.parametrize(
    ("model", "raw", "expected"),
    [
        _case(
            "countries",
            PartnerSpec,
            _partner(serves_countries=["SEN"] * 251),
            "serves_countries",
            "too_long",
        ),
        _case(
            "a country",
            PartnerSpec,
            _partner(serves_countries=[LONG_CODE]),
            "serves_countries.0",
            "string_too_long",
        ),
        _case(
            "regions",
            PartnerSpec,
            _partner(serves_regions=["AFR"] * MANY),
            "serves_regions",
            "too_long",
        ),
        _case("topics", PartnerSpec, _partner(topics=["PCB"] * MANY), "topics", "too_long"),
        _case("a topic", PartnerSpec, _partner(topics=[LONG_CODE]), "topics.0", "string_too_long"),
        _case(
            "types",
            PartnerSpec,
            _partner(assistance_types=["training"] * MANY),
            "assistance_types",
            "too_long",
        ),
        _case("languages", PartnerSpec, _partner(languages=["en"] * MANY), "languages", "too_long"),
        _case(
            "a language",
            PartnerSpec,
            _partner(languages=[LONG_CODE]),
            "languages.0",
            "string_too_long",
        ),
        _case("patch name", PartnerPatch, {"name": "n" * 201 + TAIL}, "name", "string_too_long"),
        _case("patch note", PartnerPatch, {"note": "n" * 2001 + TAIL}, "note", "string_too_long"),
        _case(
            "patch countries",
            PartnerPatch,
            {"serves_countries": ["SEN"] * MANY},
            "serves_countries",
            "too_long",
        ),
        _case("patch topics", PartnerPatch, {"topics": [LONG_CODE]}, "topics.0", "string_too_long"),
        _case(
            "patch country",
            PartnerPatch,
            {"country": LONG_CODE},
            "country",
            "string_pattern_mismatch",
        ),
        _case("patch capacity", PartnerPatch, {"capacity": 10**12}, "capacity", "less_than_equal"),
        _case("url", EndpointIn, {"url": "https://x.org/" + "a" * 2000 + TAIL}, "url", "too_long"),
        _case(
            "secret",
            EndpointIn,
            {"url": "https://x.org/", "secret": SECRET + "A" * 200},
            "secret",
            "string_too_long",
        ),
        _case(
            "event types",
            EndpointIn,
            {"url": "https://x.org/", "event_types": ["t"] * MANY},
            "event_types",
            "too_long",
        ),
        _case(
            "an event type",
            EndpointIn,
            {"url": "https://x.org/", "event_types": [LONG_CODE]},
            "event_types.0",
            "string_too_long",
        ),
        _case(
            "patch event type",
            EndpointPatch,
            {"event_types": [LONG_CODE]},
            "event_types.0",
            "string_too_long",
        ),
        _case(
            "rotated secret", RotateIn, {"secret": SECRET + "A" * 200}, "secret", "string_too_long"
        ),
        _case("contact email", ContactIn, {"email": "a" * 300 + "@x.org"}, "email", "value_error"),
        _case(
            "contact type",
            ContactIn,
            {"email": "a@x.org", "event_types": [LONG_CODE]},
            "event_types.0",
            "string_too_long",
        ),
        _case(
            "channel types",
            KafkaChannelIn,
            {"event_types": ["t"] * MANY},
            "event_types",
            "too_long",
        ),
    ],
)
def test_an_overlong_field_is_one_error_at_that_field(
    model: type[BaseModel], raw: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert _refusal(model, raw) == expected


def test_an_unknown_event_type_is_named_but_only_by_a_short_prefix() -> None:
    [(field, code)] = _refusal(
        EndpointIn, {"url": "https://x.org/", "event_types": ["t" * 40 + TAIL]}
    )
    assert (field, code) == ("event_types", "value_error")


def test_the_seed_partners_are_within_every_bound() -> None:
    seed = reference_data.load_seed(TAXONOMY)
    assert seed.partners  # loading validated each one against PartnerSpec


def test_a_partner_with_every_country_wrong_gets_a_capped_answer() -> None:
    spec = PartnerSpec.model_validate(_partner(serves_countries=[f"Q{n:02d}" for n in range(250)]))
    errors = check_partner(spec, TAXONOMY)
    assert len(errors) == 51
    assert (errors[-1].field, errors[-1].code) == (None, "too_many_errors")
