"""matcher's HTTP bodies: what its routes answer, as documented in its OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from services.matcher.domain import PartnerSpec


class PartnerView(PartnerSpec):
    """A partner as the registry holds it, with its current load."""

    open_assignments: int
    operator_edited: bool
    updated_at: datetime
