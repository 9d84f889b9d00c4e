"""The partner registry as each replica holds it in memory, reloaded only when it changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.matcher.adapters import reference_data
from services.matcher.domain import MatchRequest, Registry, RequestProfile, Taxonomy
from services.matcher.unit_of_work import PartnerRepository


@dataclass
class Catalog:
    """Seeds the registry on first use (idempotent) and caches its index by registry version.

    The version row is read on every use (one tiny query), so an operator's edit on any replica
    is seen by every replica's next match.
    """

    taxonomy: Taxonomy
    seed: reference_data.Seed
    _cached: Registry | None = field(default=None, init=False)

    @classmethod
    def from_data_files(cls) -> Catalog:
        taxonomy = reference_data.load_taxonomy()
        return cls(taxonomy, reference_data.load_seed(taxonomy))

    async def ensure_seeded(self, partners: PartnerRepository) -> None:
        if (await partners.meta()).seed_digest != self.seed.digest:
            await partners.seed(self.seed.partners, self.seed.digest)

    async def current(self, partners: PartnerRepository) -> Registry:
        meta = await partners.meta()
        if meta.seed_digest != self.seed.digest:
            await partners.seed(self.seed.partners, self.seed.digest)
            meta = await partners.meta()
        if self._cached is None or self._cached.version != meta.version:
            found = await partners.find(active=True)
            self._cached = Registry((p.spec for p in found), version=meta.version)
        return self._cached

    def profile(self, request: MatchRequest) -> RequestProfile:
        regions = dict.fromkeys((request.region, *self.taxonomy.regions_of.get(request.party, ())))
        return RequestProfile(
            party=request.party,
            regions=tuple(regions),
            topics=tuple(request.topics),
            assistance_types=tuple(request.assistance_types),
            languages=tuple(request.languages),
        )
