"""The partner registry as each replica holds it in memory, reloaded only when it changed."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.matcher import partner_repository as partners
from services.matcher import reference
from services.matcher.domain import MatchRequest, Registry, RequestProfile, Taxonomy
from shared.db import Conn


@dataclass
class Catalog:
    """Seeds the registry on first use (idempotent) and caches its index by registry version.

    The version row is read on every use (one tiny query), so an operator's edit on any replica
    is seen by every replica's next match.
    """

    taxonomy: Taxonomy
    seed: reference.Seed
    _cached: Registry | None = field(default=None, init=False)

    @classmethod
    def from_data_files(cls) -> Catalog:
        taxonomy = reference.load_taxonomy()
        return cls(taxonomy, reference.load_seed(taxonomy))

    async def ensure_seeded(self, conn: Conn) -> None:
        _, digest = await partners.registry_meta(conn)
        if digest != self.seed.digest:
            await partners.seed(conn, self.seed.partners, self.seed.digest)

    async def current(self, conn: Conn) -> Registry:
        version, digest = await partners.registry_meta(conn)
        if digest != self.seed.digest:
            await partners.seed(conn, self.seed.partners, self.seed.digest)
            version, _ = await partners.registry_meta(conn)
        if self._cached is None or self._cached.version != version:
            rows = await partners.list_partners(conn, active=True)
            self._cached = Registry((r.spec for r in rows), version=version)
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
