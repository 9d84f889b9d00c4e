"""Sample data for intake's tests."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any


def submission(ref: str, **changes: Any) -> dict[str, Any]:
    """A valid submission from Senegal; `changes` replace fields."""
    body: dict[str, Any] = {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "pops": ["9"],
        "languages": ["fr"],
        "urgency": "urgent",
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": {
            "name": "A. Ndiaye",
            "email": "a.ndiaye@example.sn",
            "organisation": "Ministry of Environment",
        },
    }
    return body | changes
