"""Partners as operators and the seed data describe them, and the checks on that data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared import bounds
from shared.bounds import quoted
from shared.errors import from_pydantic
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


class PartnerPatch(BaseModel):
    """A partial update: only the fields given change. Bounded like PartnerSpec (shared.bounds),
    so an oversized patch is refused before it is merged, checked or quoted in an error."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=bounds.MAX_PERSON_NAME)
    kind: PartnerKind | None = None
    country: str | None = Field(default=None, pattern=COUNTRY)
    serves_countries: Countries | None = None
    serves_regions: Regions | None = None
    serves_global: bool | None = None
    topics: Codes | None = None
    assistance_types: Codes | None = None
    languages: Codes | None = None
    capacity: int | None = Field(default=None, ge=0, le=MAX_CAPACITY)
    active: bool | None = None
    demo: bool | None = None
    note: str | None = Field(default=None, max_length=bounds.MAX_REASON)


@dataclass(frozen=True)
class RegisteredPartner:
    """A partner as the registry holds it: the spec, its current load and who edited it last."""

    spec: PartnerSpec
    open_assignments: int
    operator_edited: bool  # seeding never overwrites an operator's row
    updated_at: datetime


@dataclass(frozen=True)
class RegistryMeta:
    version: int  # bumped by every registry change: replicas reload their index when it moves
    seed_digest: str | None  # which seed file was applied last


class InvalidPartner(Exception):  # noqa: N818 - a result, not a failure of ours
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class PartnerNotFound(Exception):  # noqa: N818
    def __init__(self, partner_id: str) -> None:
        super().__init__(partner_id)
        self.partner_id = partner_id


class PartnerExists(Exception):  # noqa: N818
    def __init__(self, partner_id: str) -> None:
        super().__init__(partner_id)
        self.partner_id = partner_id


def patched(spec: PartnerSpec, patch: PartnerPatch) -> PartnerSpec:
    """`spec` with the patch's given fields; InvalidPartner when the result is no valid spec."""
    merged: dict[str, Any] = {**spec.model_dump(), **patch.model_dump(exclude_unset=True)}
    try:
        return PartnerSpec.model_validate(merged)
    except ValidationError as exc:
        raise InvalidPartner(from_pydantic(exc.errors())) from exc


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


def checked(spec: PartnerSpec, taxonomy: Taxonomy) -> PartnerSpec:
    """`spec`, or InvalidPartner with every reason it cannot go into the registry."""
    errors = check_partner(spec, taxonomy)
    if errors:
        raise InvalidPartner(errors)
    return spec


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
