"""The reference facts validation needs: who may ask for assistance, and the known codes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from shared.events import Eligibility

Category = Literal["developing", "eit", "developed"]


@dataclass(frozen=True)
class Party:
    """One row of parties.csv: who may ask for assistance, and with which flags."""

    code: str
    name: str
    region: str
    is_party: bool
    category: Category
    ldc: bool
    sids: bool


@dataclass(frozen=True)
class Reference:
    """The reference facts validation needs, loaded from services/intake/data at start."""

    parties: Mapping[str, Party]
    topics: frozenset[str]
    assistance_types: frozenset[str]
    chemicals: frozenset[str]
    languages: frozenset[str]  # UN languages only: a request asks in these


def eligibility(party: Party) -> Eligibility:
    return Eligibility(
        developing=party.category == "developing",
        economy_in_transition=party.category == "eit",
        ldc=party.ldc,
        sids=party.sids,
    )
