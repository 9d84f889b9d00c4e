"""Partners and requests compiled into one registry's bit space: what scoring reads.

Kept apart from registry.py (which builds them) and scoring.py (which explains them), so both
import these shapes and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.matcher.domain.partners import PartnerSpec


@dataclass(frozen=True, slots=True)
class Partner:
    """A registry entry with everything scoring needs precomputed."""

    spec: PartnerSpec
    partner_id: str
    topic_mask: int
    type_mask: int
    lang_mask: int
    region_mask: int
    countries: frozenset[str]
    serves_global: bool
    own_party: str | None  # a Party is never offered its own request
    capacity: int


@dataclass(frozen=True, slots=True)
class RequestProfile:
    """What matching needs from a `ta.request.accepted`."""

    party: str
    regions: tuple[str, ...]
    topics: tuple[str, ...]
    assistance_types: tuple[str, ...]
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """A request profile compiled into one registry's bit space."""

    profile: RequestProfile
    topics: tuple[str, ...]  # de-duplicated, in the request's order
    topic_mask: int
    type_mask: int
    lang_mask: int
    region_mask: int
    n_types: int
