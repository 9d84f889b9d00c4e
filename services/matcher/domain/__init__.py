"""Pure rules of matcher: partners, scoring, choosing partners, the offer saga's decisions.

No I/O here (import-linter checks it). Read in this order: partners.py (what a partner is),
compiled.py (partners and requests in the registry's bit space), scoring.py (the weights and the
reasons), registry.py (the index and the choice), saga.py (offers, answers, settlement).
"""

from services.matcher.domain.compiled import Partner, Query, RequestProfile
from services.matcher.domain.partners import (
    InvalidPartner,
    PartnerExists,
    PartnerKind,
    PartnerNotFound,
    PartnerPatch,
    PartnerSpec,
    RegisteredPartner,
    RegistryMeta,
    Taxonomy,
    check_partner,
    checked,
    patched,
)
from services.matcher.domain.registry import Choice, MatchPolicy, Plan, Registry
from services.matcher.domain.request import MatchRequest
from services.matcher.domain.saga import (
    SETTLED,
    UNSETTLED,
    Assignment,
    Settlement,
    Slot,
    Verdict,
    closable,
    is_complete,
    judge_response,
    settle,
)
from services.matcher.domain.scoring import explain

__all__ = [
    "SETTLED",
    "UNSETTLED",
    "Assignment",
    "Choice",
    "InvalidPartner",
    "MatchPolicy",
    "MatchRequest",
    "Partner",
    "PartnerExists",
    "PartnerKind",
    "PartnerNotFound",
    "PartnerPatch",
    "PartnerSpec",
    "Plan",
    "Query",
    "RegisteredPartner",
    "Registry",
    "RegistryMeta",
    "RequestProfile",
    "Settlement",
    "Slot",
    "Taxonomy",
    "Verdict",
    "check_partner",
    "checked",
    "closable",
    "explain",
    "is_complete",
    "judge_response",
    "patched",
    "settle",
]
