"""Partners as operators and the seed data describe them, and the checks on that data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.events import FieldError


class PartnerKind(StrEnum):
    PARTY = "party"
    REGIONAL_CENTRE = "regional_centre"
    IGO = "igo"
    FINANCIAL = "financial"


class PartnerSpec(BaseModel):
    """A partner as operators and the seed data describe it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    partner_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="Stable slug")
    name: str = Field(min_length=1, max_length=200, description="Display name")
    kind: PartnerKind = Field(description="party, regional_centre, igo or financial")
    country: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO-3 of a Party partner (or host)"
    )
    serves_countries: list[str] = Field(default_factory=list, description="ISO-3 codes served")
    serves_regions: list[str] = Field(default_factory=list, description="UN regional groups served")
    serves_global: bool = Field(default=False, description="Works for every eligible Party")
    topics: list[str] = Field(min_length=1, description="Topic codes it covers")
    assistance_types: list[str] = Field(min_length=1, description="Assistance types it gives")
    languages: list[str] = Field(min_length=1, description="ISO 639-1 codes it works in")
    capacity: int = Field(ge=0, le=100_000, description="Max open assignments")
    active: bool = Field(default=True, description="Inactive partners are never offered work")
    demo: bool = Field(default=False, description="Demo data, not a real partner offer")
    note: str = Field(default="", max_length=2000, description="Free text for operators")


@dataclass(frozen=True)
class Taxonomy:
    """The codes partner data is checked against (services/matcher/data)."""

    topics: frozenset[str]
    assistance_types: frozenset[str]
    regions: frozenset[str]
    regions_of: Mapping[str, tuple[str, ...]]  # ISO-3 → UN regional groups (TUR has two)


def check_partner(spec: PartnerSpec, taxonomy: Taxonomy) -> list[FieldError]:
    """Every reason `spec` cannot go into the registry (empty when it can)."""
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
    return errors


def _unknown(field: str, codes: Iterable[str], known: Iterable[str], code: str) -> list[FieldError]:
    allowed = set(known)
    return [
        FieldError(field=f"{field}.{n}", code=code, message=f"{c!r} is not a known code")
        for n, c in enumerate(codes)
        if c not in allowed
    ]


def _bad_languages(languages: Sequence[str]) -> list[FieldError]:
    return [
        FieldError(field=f"languages.{n}", code="bad_language", message=f"{c!r} is not ISO 639-1")
        for n, c in enumerate(languages)
        if not (len(c) == 2 and c.isascii() and c.isalpha() and c.islower())
    ]
