"""The score's weights, and the score explained in words a person can check."""

from __future__ import annotations

from collections.abc import Sequence

from services.matcher.domain.compiled import Partner, Query

# Weights of the score (they sum to 1); docs/matcher.md explains them.
W_TOPICS, W_TYPES, W_GEO, W_LANG, W_HEADROOM = 0.40, 0.20, 0.20, 0.10, 0.10
# Geography: serves the country > serves the region > works globally.
GEO_COUNTRY, GEO_REGION, GEO_GLOBAL = 1.0, 0.6, 0.3


def explain(p: Partner, q: Query, load: int, covers: Sequence[str]) -> tuple[str, ...]:
    """The score's parts in words, each with the points it adds (they sum to the score);
    computed only for partners actually offered work."""
    s, r = p.spec, q.profile
    types = [t for t in dict.fromkeys(r.assistance_types) if t in s.assistance_types]
    shared = [lang for lang in dict.fromkeys(r.languages) if lang in s.languages]
    regions = sorted(set(s.serves_regions) & set(r.regions))
    if r.party in p.countries:
        where, geo = f"serves {r.party} directly", GEO_COUNTRY
    elif regions:
        where, geo = f"serves the {'/'.join(regions)} region", GEO_REGION
    else:
        where, geo = "works globally (no regional presence listed)", GEO_GLOBAL
    type_points = W_TYPES * len(types) / q.n_types if q.n_types else W_TYPES
    return (
        f"covers {', '.join(covers)} ({len(covers)} of {len(q.topics)} requested topics): "
        f"+{W_TOPICS * len(covers) / max(len(q.topics), 1):.2f}",
        (
            f"gives {', '.join(types)} ({len(types)} of {q.n_types} assistance types asked)"
            if types
            else f"gives none of the assistance types asked ({', '.join(s.assistance_types)})"
        )
        + f": +{type_points:.2f}",
        f"{where}: +{W_GEO * geo:.2f}",
        f"works in {', '.join(shared)}: +{W_LANG:.2f}"
        if shared
        else f"shares no requested language (works in {', '.join(s.languages)}): +0.00",
        f"has room: {load} of {p.capacity} open assignments: "
        f"+{W_HEADROOM * (1 - load / p.capacity):.2f}",
        *(["demo data: an example Party, not a real offer"] if s.demo else []),
    )
