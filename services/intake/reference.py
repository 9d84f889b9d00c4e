"""Loads intake's reference data files (project data, not code) at start."""

from __future__ import annotations

import csv
from pathlib import Path

from services.intake.domain import Reference

DATA = Path(__file__).parent / "data"

# Group names as written in the UN list → the region codes used in events (taxonomy.md).
_REGION_CODES = {
    "African Group": "AFR",
    "Asia-Pacific Group": "APAC",
    "Eastern European Group": "CEE",
    "GRULAC": "GRULAC",
    "WEOG": "WEOG",
}


def load_reference(folder: Path = DATA) -> Reference:
    """regions.csv: one row per Party (Türkiye listed once, under WEOG; non-UN Parties added)."""
    with (folder / "regions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return Reference(regions={row["Code"]: _REGION_CODES[row["Region"]] for row in rows})
