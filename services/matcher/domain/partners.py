"""Partners as operators and the seed data describe them, and the checks on that data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared import bounds
from shared.bounds import quoted
from shared.events import Code, Codes, FieldError, cap_errors

# Bounded lists of codes (shared.bounds): a registry entry is edited by a person, never bulk data.
Countries = Annotated[list[Code], Field(max_length=bounds.MAX_COUNTRIES)]
Regions = Annotated[list[Code], Field(max_length=bounds.MAX_REGIONS)]
PARTNER_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"
COUNTRY = r"^[A-Z]{3}$"
MAX_CAPACITY = 100_000  # open assignments: far above any real partner, below integer trouble


class PartnerKind(StrEnum):
    PARTY = "party"
    REGIONAL_CENTRE = "regional_centre"
    IGO = "igo"
    FINANCIAL = "financial"


class PartnerSpec(BaseModel):
    """A partner as operators and the seed data describe it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    partner_id: str = Field(pattern=PARTNER_ID, description="Stable slug")
    name: str = Field(min_length=1, max_length=bounds.MAX_PERSON_NAME, description="Display name")
    kind: PartnerKind = Field(description="party, regional_centre, igo or financial")
    country: str | None = Field(
        default=None, pattern=COUNTRY, description="ISO-3 of a Party partner (or host)"
    )
    serves_countries: Countries = Field(default_factory=list, description="ISO-3 codes served")
    serves_regions: Regions = Field(default_factory=list, description="UN regional groups served")
    serves_global: bool = Field(default=False, description="Works for every eligible Party")
    topics: Codes = Field(min_length=1, description="Topic codes it covers")
    assistance_types: Codes = Field(min_length=1, description="Assistance types it gives")
    languages: Codes = Field(min_length=1, description="ISO 639-1 codes it works in")
    capacity: int = Field(ge=0, le=MAX_CAPACITY, description="Max open assignments")
    active: bool = Field(default=True, description="Inactive partners are never offered work")
    demo: bool = Field(default=False, description="Demo data, not a real partner offer")
    note: str = Field(
        default="", max_length=bounds.MAX_REASON, description="Free text for operators"
    )


@dataclass(frozen=True)
class Taxonomy:
    """The codes partner data is checked against (services/matcher/data)."""

    topics: frozenset[str]
    assistance_types: frozenset[str]
    regions: frozenset[str]
    regions_of: Mapping[str, tuple[str, ...]]  # ISO-3 → UN regional groups (TUR has two)


def check_partner(spec: PartnerSpec, taxonomy: Taxonomy) -> list[FieldError]:
    """Every reason `spec` cannot go into the registry (empty when it can), capped: a list of
    250 unknown countries is answered with 50 errors and a count."""
    errors = [
        *_unknown("topics", spec.topics, taxonomy.topics, "unknown_topic"),
        *_unknown(
            "assistance_types",
            spec.assistance_types,
            taxonomy.assistance_types,
            "unknown_assistance_type",
        ),
        *_unknown("serves_regions", spec.serves_regions, taxonomy.regions, "unknown_region"),
        *_unknown(
            "serves_countries", spec.serves_countries, taxonomy.regions_of, "unknown_country"
        ),
        *_bad_languages(spec.languages),
    ]
    if not (spec.serves_global or spec.serves_countries or spec.serves_regions):
        errors.append(
            FieldError(
                field="serves_countries",
                code="serves_nobody",
                message="give serves_countries, serves_regions or serves_global=true",
            )
        )
    if spec.kind is PartnerKind.PARTY and spec.country is None:
        errors.append(
            FieldError(
                field="country",
                code="missing",
                message="a party partner needs its ISO-3 country: it is never offered its own "
                "request",
            )
        )
    return cap_errors(errors)


def _unknown(field: str, codes: Iterable[str], known: Iterable[str], code: str) -> list[FieldError]:
    allowed = set(known)
    return [
        FieldError(field=f"{field}.{n}", code=code, message=f"{quoted(c)} is not a known code")
        for n, c in enumerate(codes)
        if c not in allowed
    ]


def _bad_languages(languages: Sequence[str]) -> list[FieldError]:
    return [
        FieldError(
            field=f"languages.{n}", code="bad_language", message=f"{quoted(c)} is not ISO 639-1"
        )
        for n, c in enumerate(languages)
        if not (len(c) == 2 and c.isascii() and c.isalpha() and c.islower())
    ]
