"""Loads intake's reference data files (project data, not code) and validates them at start.

A bad file stops intake at start rather than letting it accept requests against wrong facts.
What is verified and what is not is recorded in the files themselves (see data/README.md).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.intake.domain.reference import Party, Reference

DATA = Path(__file__).parents[1] / "data"
REGIONS = frozenset({"AFR", "APAC", "CEE", "GRULAC", "WEOG"})


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    @property
    def key(self) -> str:
        """What must be unique within the file."""
        return str(getattr(self, "code", "") or getattr(self, "id", ""))


class PartyRow(_Row):
    code: str = Field(pattern=r"^[A-Z]{3}$")
    name: str = Field(min_length=1)
    region: str
    also_regions: str = ""
    party: bool
    party_verified: bool
    category: Literal["developing", "eit", "developed"]
    ldc: bool
    sids: bool
    note: str = ""
    source: str = ""  # where party / party_verified were read (URL or citation)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(f"region must be one of {sorted(REGIONS)}")
        return value

    @model_validator(mode="after")
    def _verified_needs_a_source(self) -> PartyRow:
        if self.party_verified and not self.source:
            raise ValueError(f"{self.code}: party_verified=true needs a source")
        return self


class ChemicalRow(_Row):
    id: str = Field(pattern=r"^[0-9]+$")
    name: str = Field(min_length=1)
    annexes: str = Field(pattern=r"^[ABC](;[ABC])*$")
    verified: str


class CodeRow(_Row):
    code: str = Field(pattern=r"^[A-Za-z_]+$")
    label: str = Field(min_length=1)


class LanguageRow(_Row):
    code: str = Field(pattern=r"^[a-z]{2}$")
    name: str = Field(min_length=1)
    un_official: bool


class ReferenceDataError(ValueError):
    """A reference data file is malformed; intake refuses to start."""


RowT = TypeVar("RowT", bound=_Row)


def _read(path: Path, model: type[RowT]) -> list[RowT]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    try:
        parsed = [model.model_validate(row) for row in rows]
    except ValueError as exc:
        raise ReferenceDataError(f"{path.name}: {exc}") from exc
    _unique(path.name, [row.key for row in parsed])
    return parsed


def _unique(name: str, keys: Iterable[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ReferenceDataError(f"{name}: {key!r} appears twice")
        seen.add(key)


def _party(row: PartyRow) -> Party:
    return Party(row.code, row.name, row.region, row.party, row.category, row.ldc, row.sids)


def load_reference(folder: Path = DATA) -> Reference:
    """Every data file of intake, validated; raises ReferenceDataError on the first bad one."""
    parties = _read(folder / "parties.csv", PartyRow)
    languages = _read(folder / "languages.csv", LanguageRow)
    return Reference(
        parties={row.code: _party(row) for row in parties},
        topics=frozenset(r.code for r in _read(folder / "topics.csv", CodeRow)),
        assistance_types=frozenset(r.code for r in _read(folder / "assistance_types.csv", CodeRow)),
        chemicals=frozenset(r.id for r in _read(folder / "chemicals.csv", ChemicalRow)),
        languages=frozenset(r.code for r in languages if r.un_official),
    )
