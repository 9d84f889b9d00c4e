"""matcher's data files (services/matcher/data), validated with pydantic when loaded.

- `taxonomy.json`: topic, assistance-type and region codes partner data is checked against;
- `regions.csv`: ISO-3 → UN regional group (from ../shared/reference/un_regional_groups.csv);
- `partners.json`: the registry's seed — the 16 regional centres, UNEP, UNIDO, UNDP, World Bank,
  GEF, the Secretariat and a few demo donor Parties (marked `demo`). Each seed row also says where
  its facts come from (`sources`) and which values a cited page states (`verified`); those two
  fields are checked here and stay in the file: the registry and its API never see them.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.matcher.domain import PartnerSpec, Taxonomy, check_partner

DATA = Path(__file__).parents[1] / "data"


class _TaxonomyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    about: str
    topics: list[str]
    assistance_types: list[str]
    regions: list[str]
    kinds: list[str]


VerifiableField = Literal[
    "serves_countries", "serves_regions", "topics", "assistance_types", "languages"
]


class _SeedPartner(PartnerSpec):
    """A seed row: a PartnerSpec plus its provenance (`sources`, `verified`), kept in the file."""

    sources: list[str] = Field(min_length=1, description="URLs or citations the row rests on")
    verified: dict[VerifiableField, list[str]] = Field(
        default_factory=dict, description="Per field, the values a cited source states"
    )

    @model_validator(mode="after")
    def _verified_values_are_the_partners(self) -> _SeedPartner:
        if any(not source.strip() for source in self.sources):
            raise ValueError("a source is empty")
        for name, values in self.verified.items():
            unknown = set(values) - set(getattr(self, name))
            if unknown:
                raise ValueError(f"verified {name} {sorted(unknown)} are not the partner's {name}")
        return self

    def spec(self) -> PartnerSpec:
        return PartnerSpec.model_validate(self.model_dump(exclude={"sources", "verified"}))


class _PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    about: str
    partners: list[_SeedPartner]


class DataError(ValueError):
    """A data file is wrong: the service refuses to start rather than match on bad data."""


@dataclass(frozen=True)
class Seed:
    partners: tuple[PartnerSpec, ...]
    digest: str  # changes when the file does: seeding runs again (never over operator edits)


def load_taxonomy(folder: Path = DATA) -> Taxonomy:
    raw = _TaxonomyFile.model_validate_json((folder / "taxonomy.json").read_text())
    regions_of: dict[str, tuple[str, ...]] = {}
    with (folder / "regions.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            regions_of[row["iso3"]] = (*regions_of.get(row["iso3"], ()), row["region"])
    return Taxonomy(
        topics=frozenset(raw.topics),
        assistance_types=frozenset(raw.assistance_types),
        regions=frozenset(raw.regions),
        regions_of=regions_of,
    )


def load_seed(taxonomy: Taxonomy, folder: Path = DATA) -> Seed:
    text = (folder / "partners.json").read_text()
    partners = [row.spec() for row in _PartnersFile.model_validate_json(text).partners]
    problems = [
        f"{p.partner_id}: {e.field}: {e.message}"
        for p in partners
        for e in check_partner(p, taxonomy)
    ]
    ids = [p.partner_id for p in partners]
    if len(set(ids)) != len(ids):
        problems.append("partner ids are not unique")
    if problems:
        raise DataError(f"{folder / 'partners.json'}: " + "; ".join(problems))
    digest = hashlib.sha256(
        json.dumps([p.model_dump(mode="json") for p in partners]).encode()
    ).hexdigest()
    return Seed(tuple(partners), digest)
