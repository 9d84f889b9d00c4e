"""Pure rules of matcher: partners, scoring, choosing partners, the offer saga's decisions.

No I/O here (import-linter checks it). Read in this order: partners.py (what a partner is),
scoring.py (the weights and the reasons), registry.py (the index and the choice), saga.py.
"""

from services.matcher.domain.partners import PartnerKind, PartnerSpec, Taxonomy, check_partner
from services.matcher.domain.registry import (
    Choice,
    MatchPolicy,
    Partner,
    Plan,
    Query,
    Registry,
    RequestProfile,
)
from services.matcher.domain.request import MatchRequest
from services.matcher.domain.saga import Settlement, Verdict, judge_response, settle
from services.matcher.domain.scoring import explain

__all__ = [
    "Choice",
    "MatchPolicy",
    "MatchRequest",
    "Partner",
    "PartnerKind",
    "PartnerSpec",
    "Plan",
    "Query",
    "Registry",
    "RequestProfile",
    "Settlement",
    "Taxonomy",
    "Verdict",
    "check_partner",
    "explain",
    "judge_response",
    "settle",
]
