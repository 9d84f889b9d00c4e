"""Reference data files: loaded and validated at start, unverified facts marked as such."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from services.intake.adapters.reference_data import DATA, ReferenceDataError, load_reference


def test_the_shipped_data_has_every_party_chemical_and_code() -> None:
    reference = load_reference()
    assert len(reference.parties) == 197  # 193 UN members, COK, NIU, PSE and the EU
    assert len(reference.chemicals) == 37
    assert len(reference.topics) == 15
    assert len(reference.assistance_types) == 8
    assert reference.languages == {"ar", "zh", "en", "fr", "ru", "es"}
    non_parties = {c for c, p in reference.parties.items() if not p.is_party}
    # read as non-Parties in the IEA data (data/README.md), and the five inferred ones
    read = {"USA", "ISR", "MYS", "AND", "BTN", "BRN"}
    assert non_parties == read | {"GRD", "HTI", "SMR", "SSD", "TLS"}
    assert len(reference.parties) - len(non_parties) == 186
    assert reference.parties["TUR"].region == "WEOG"  # listed twice in the UN list
    assert reference.parties["EUR"].category == "developed"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_unverified_facts_stay_marked_in_the_data() -> None:
    parties = {r["code"]: r for r in _rows("parties.csv")}
    for code in ("TKM", "GRD", "HTI", "SSD", "TLS", "SMR"):  # inferred from counts (unverified)
        assert parties[code]["party_verified"] == "false"
        assert "unverified" in parties[code]["note"]
    party_rows = [r for r in parties.values() if r["party"] == "true"]
    assert [r["code"] for r in party_rows if r["party_verified"] == "false"] == ["TKM"]
    assert {r["verified"] for r in _rows("topics.csv")} == {"false"}  # a working proposal
    assert {r["verified"] for r in _rows("chemicals.csv")} >= {"V", "listing V; CAS M"}


@pytest.mark.parametrize(
    ("file", "column", "bad"),
    [
        ("parties.csv", "region", "MARS"),
        ("parties.csv", "category", "rich"),
        ("chemicals.csv", "annexes", "D"),
        ("languages.csv", "un_official", "maybe"),
    ],
)
def test_a_bad_data_file_stops_intake_at_start(
    tmp_path: Path, file: str, column: str, bad: str
) -> None:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    rows = _rows(file)
    rows[0][column] = bad
    with (folder / file).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ReferenceDataError, match=file):
        load_reference(folder)


def test_a_duplicated_code_stops_intake_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    with (folder / "topics.csv").open("a", encoding="utf-8") as handle:
        handle.write("PCB,again,Annex A,false\n")
    with pytest.raises(ReferenceDataError, match="appears twice"):
        load_reference(folder)
