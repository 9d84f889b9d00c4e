"""Invariants of the reference facts (issue 12, item 5): what the data files claim and how far
the public record read for them goes. See services/intake/data/README.md."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from services.intake.adapters.reference_data import DATA as INTAKE_DATA
from services.intake.adapters.reference_data import ReferenceDataError, load_reference
from services.matcher.adapters import reference_data as matcher_data

# 186 Parties per the UN Treaty Collection (185 States and the EU). 185 Party rows are read in the
# public record; Turkmenistan is the one inferred (see the README): one of the six below joined
# after the IEA data of 2021-01-15 and no deposit was read for any of them.
PARTY_ROWS = 186
INFERRED = {"TKM": "true"} | dict.fromkeys(("GRD", "HTI", "SMR", "SSD", "TLS"), "false")
READ_AS_NON_PARTIES = {"AND", "BTN", "BRN", "USA", "ISR", "MYS"}
IEA_DATA = (
    "globalgov/manyenviron/blob/48ab5977b47b9777bf34a593ec08ff4f6a958f67"
    "/data-raw/memberships/IEADB_MEM/iea-memb.xlsx"
)


def _parties() -> dict[str, dict[str, str]]:
    with (INTAKE_DATA / "parties.csv").open(newline="", encoding="utf-8") as handle:
        return {row["code"]: row for row in csv.DictReader(handle)}


def _partners() -> list[dict[str, object]]:
    raw = json.loads((matcher_data.DATA / "partners.json").read_text(encoding="utf-8"))
    partners: list[dict[str, object]] = raw["partners"]
    return partners


def test_the_party_rows_are_the_untc_count_and_include_the_eu() -> None:
    parties = _parties()
    party_rows = {code for code, row in parties.items() if row["party"] == "true"}
    assert len(party_rows) == PARTY_ROWS
    assert {"EUR", "PSE", "COK", "NIU", "ITA"} <= party_rows
    assert len(party_rows) - 186 == 0


def test_only_the_inferred_rows_are_unverified() -> None:
    unverified = {code for code, row in _parties().items() if row["party_verified"] != "true"}
    assert unverified == set(INFERRED)


def test_every_verified_row_cites_a_source_and_every_unverified_one_says_so() -> None:
    for code, row in _parties().items():
        if row["party_verified"] == "true":
            assert row["source"].strip(), code
        else:
            assert row["note"].strip(), f"{code}: an unverified row says what is unknown"


def test_rows_read_as_non_parties_and_the_inferred_rows_are_marked() -> None:
    parties = _parties()
    for code in READ_AS_NON_PARTIES:
        assert (parties[code]["party"], parties[code]["party_verified"]) == ("false", "true")
        assert IEA_DATA in parties[code]["source"], code
    assert "signature date" in parties["MYS"]["note"]
    for code, party in INFERRED.items():
        assert (parties[code]["party"], parties[code]["party_verified"]) == (party, "false")
        assert IEA_DATA in parties[code]["source"], code


def test_every_un_member_party_row_but_italy_and_the_inferred_cites_the_iea_data() -> None:
    for code, row in _parties().items():
        if row["un_member"] == "true" and row["party"] == "true" and code not in INFERRED:
            assert IEA_DATA in row["source"], code
            if code != "ITA":
                assert "(IEA data)" in row["note"], code


def test_cyprus_is_developed_and_so_not_eligible() -> None:
    reference = load_reference()
    assert reference.parties["CYP"].category == "developed"


def test_tuerkiye_eligibility_agrees_with_the_centres_that_serve_it() -> None:
    turkiye = load_reference().parties["TUR"]
    serving = {
        str(p["partner_id"])
        for p in _partners()
        if "TUR" in p["serves_countries"]  # type: ignore[operator]
    }
    assert serving == {"scrc-iran", "scrc-spain"}
    assert turkiye.is_party and turkiye.category != "developed"


def test_every_partner_has_sources_and_verified_values_are_its_own() -> None:
    for partner in _partners():
        sources = partner["sources"]
        assert isinstance(sources, list) and sources and all(str(s).strip() for s in sources)
        verified = partner["verified"]
        assert isinstance(verified, dict)
        for field, values in verified.items():
            assert set(values) <= set(partner[field]), (partner["partner_id"], field)  # type: ignore[call-overload]


def test_some_partner_facts_are_verified_from_public_pages() -> None:
    verified = {str(p["partner_id"]): p["verified"] for p in _partners()}
    assert verified["scrc-caribbean"]["serves_countries"]  # type: ignore[index]
    assert verified["scrc-india"]["serves_countries"]  # type: ignore[index]
    assert verified["scrc-czechia"]["serves_regions"] == ["CEE"]  # type: ignore[index]
    assert len(verified["scrc-china"]["serves_countries"]) == 20  # type: ignore[index]
    assert verified["scrc-brazil"]["serves_regions"] == ["GRULAC"]  # type: ignore[index]
    assert "PCB" in verified["unido"]["topics"]  # type: ignore[index]
    assert len(verified["scrc-senegal"]["serves_countries"]) == 22  # type: ignore[index]
    assert verified["scrc-kenya"]["serves_regions"] == ["AFR"]  # type: ignore[index]
    assert "PEST" in verified["scrc-kenya"]["topics"]  # type: ignore[index]
    assert "laboratory" in verified["scrc-kuwait"]["assistance_types"]  # type: ignore[index]
    assert "MONLAB" in verified["scrc-russia"]["topics"]  # type: ignore[index]
    assert "policy_legal" in verified["unep-law"]["assistance_types"]  # type: ignore[index]
    assert verified["gef"]["assistance_types"] == ["funding_access"]  # type: ignore[index]


PROJECT_FILES = ("../shared/reference/", "DEMO DATA")
UNVERIFIED = "not verified: no page read"


def _strings(value: object) -> list[str]:
    assert isinstance(value, list)
    return [str(v) for v in value]


def _public(sources: list[str]) -> list[str]:
    """Sources that are public pages: not the project's own reference files, not demo notes."""
    return [s for s in sources if not s.startswith(PROJECT_FILES) and not s.startswith(UNVERIFIED)]


def test_every_real_partner_cites_a_public_page_and_verifies_something() -> None:
    for partner in _partners():
        sources = _strings(partner["sources"])
        if partner["demo"]:
            assert partner["verified"] == {} and "DEMO DATA" in str(partner["name"])
            assert all(s.startswith("DEMO DATA") for s in sources), partner["partner_id"]
            continue
        assert _public(sources), f"{partner['partner_id']}: no public page cited"
        assert partner["verified"], f"{partner['partner_id']}: nothing marked verified"


def test_a_centre_without_a_verified_country_list_says_so() -> None:
    for partner in _partners():
        if partner["kind"] != "regional_centre":
            continue
        verified: dict[str, list[str]] = partner["verified"]  # type: ignore[assignment]
        if not (verified.get("serves_countries") or verified.get("serves_regions")):
            sources = _strings(partner["sources"])
            assert any(s.startswith(UNVERIFIED) for s in sources), partner["partner_id"]
            assert "coverage verified: no" in str(partner["note"]), partner["partner_id"]


def test_countries_added_from_the_record_are_the_ones_read() -> None:
    by_id = {str(p["partner_id"]): p for p in _partners()}
    cis = {"ARM", "BLR", "KAZ", "KGZ", "RUS", "TJK", "TKM", "UKR", "UZB"}
    assert cis <= set(by_id["scrc-iran"]["verified"]["serves_countries"])  # type: ignore[index]
    kuwait = set(by_id["scrc-kuwait"]["verified"]["serves_countries"])  # type: ignore[index]
    assert {"IRQ", "PSE", "KWT", "JOR"} <= kuwait and len(kuwait) == 12


def test_a_verified_party_row_without_a_source_stops_intake(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    shutil.copytree(INTAKE_DATA, folder)
    rows = list(_parties().values())
    rows[0]["party_verified"], rows[0]["source"] = "true", ""
    with (folder / "parties.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(ReferenceDataError, match="needs a source"):
        load_reference(folder)


def test_a_partner_without_sources_or_with_a_foreign_verified_value_stops_the_matcher(
    tmp_path: Path,
) -> None:
    taxonomy = matcher_data.load_taxonomy()
    for breakage in ("no_sources", "foreign_verified"):
        folder = tmp_path / breakage
        shutil.copytree(matcher_data.DATA, folder)
        raw = json.loads((folder / "partners.json").read_text(encoding="utf-8"))
        if breakage == "no_sources":
            raw["partners"][0]["sources"] = []
        else:
            raw["partners"][0]["verified"] = {"topics": ["FIN"]}  # not a Senegal topic
        (folder / "partners.json").write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(ValueError):
            matcher_data.load_seed(taxonomy, folder)
