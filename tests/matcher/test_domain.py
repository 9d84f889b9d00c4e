"""matcher's pure rules, on the real reference data (services/matcher/data) where it matters."""

from __future__ import annotations

import pytest

from services.matcher.adapters import reference_data
from services.matcher.domain import (
    MatchPolicy,
    PartnerKind,
    PartnerSpec,
    Registry,
    RequestProfile,
    Verdict,
    check_partner,
    closable,
    is_complete,
    judge_response,
    settle,
)
from shared.events import Decision

TAXONOMY = reference_data.load_taxonomy()
SEED = reference_data.load_seed(TAXONOMY)
REAL = Registry(SEED.partners)


def profile(
    party: str, topics: list[str], types: list[str] | None = None, langs: list[str] | None = None
) -> RequestProfile:
    return RequestProfile(
        party=party,
        regions=TAXONOMY.regions_of[party],
        topics=tuple(topics),
        assistance_types=tuple(types or ["training"]),
        languages=tuple(langs or ["en"]),
    )


def spec(partner_id: str, **changes: object) -> PartnerSpec:
    base: dict[str, object] = {
        "partner_id": partner_id,
        "name": partner_id,
        "kind": "igo",
        "serves_global": True,
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["en"],
        "capacity": 10,
    }
    return PartnerSpec.model_validate(base | changes)


def test_the_seed_holds_the_16_centres_the_key_partners_and_marked_demo_parties() -> None:
    by_id = {p.partner_id: p for p in SEED.partners}
    centres = [p for p in SEED.partners if p.kind is PartnerKind.REGIONAL_CENTRE]
    assert len(centres) == 16
    for key in ("unep-chemicals", "unep-law", "unido", "undp", "world-bank", "gef", "secretariat"):
        assert key in by_id
    demo = [p for p in SEED.partners if p.partner_id.startswith("demo-party-")]
    assert demo and all(p.demo and "DEMO" in p.name for p in demo)
    assert set(by_id["scrc-senegal"].serves_countries) >= {"SEN", "MLI", "CIV"}
    assert by_id["scrc-kenya"].serves_regions == ["AFR"]


def test_a_francophone_west_african_ldc_asking_for_pcb_gets_scrc_senegal_and_unep() -> None:
    plan = REAL.plan(REAL.query(profile("SEN", ["PCB"], ["training"], ["fr"])), {}, MatchPolicy())

    lead, support = plan.choices
    assert (lead.partner.partner_id, lead.role) == ("scrc-senegal", "lead")
    assert (support.partner.partner_id, support.role) == ("unep-chemicals", "support")
    assert lead.reasons == (
        "covers PCB (1 of 1 requested topics): +0.40",
        "gives training (1 of 1 assistance types asked): +0.20",
        "serves SEN directly: +0.20",
        "works in fr: +0.10",
        "has room: 0 of 30 open assignments: +0.10",
    )
    assert "works globally (no regional presence listed): +0.06" in support.reasons
    assert lead.score == 1.0 > support.score
    points = sum(float(r.rsplit("+", 1)[1]) for r in support.reasons)
    assert points == pytest.approx(support.score)  # a person can add the reasons up
    assert plan.uncovered == ()


def test_geography_ranks_country_over_region_over_global() -> None:
    registry = Registry(
        [
            spec("global-org"),
            spec("region-org", serves_global=False, serves_regions=["AFR"]),
            spec("country-org", serves_global=False, serves_countries=["MLI"]),
            spec("elsewhere", serves_global=False, serves_regions=["GRULAC"]),
        ]
    )
    q = registry.query(profile("MLI", ["PCB"]))
    ranked = [registry.partners[i].partner_id for _, i in registry.scored(q, {}, set())]
    assert ranked == ["country-org", "region-org", "global-org"]  # "elsewhere" is not eligible


def test_headroom_and_language_break_otherwise_equal_scores() -> None:
    registry = Registry([spec("busy"), spec("idle"), spec("french", languages=["fr"])])
    q = registry.query(profile("MLI", ["PCB"], langs=["en"]))
    ranked = [registry.partners[i].partner_id for _, i in registry.scored(q, {"busy": 5}, set())]
    assert ranked == ["idle", "busy", "french"]


def test_inactive_full_and_self_partners_are_never_offered() -> None:
    registry = Registry(
        [
            spec("inactive", active=False),
            spec("full", capacity=2),
            spec("mali", kind="party", country="MLI"),
            spec("ok"),
        ]
    )
    plan = registry.plan(registry.query(profile("MLI", ["PCB"])), {"full": 2}, MatchPolicy())
    assert [c.partner.partner_id for c in plan.choices] == ["ok"]


def test_set_cover_covers_every_topic_within_the_maximum() -> None:
    q = REAL.query(profile("SEN", ["PCB", "LEGAL", "FIN", "MONLAB"], ["training"], ["fr"]))
    plan = REAL.plan(q, {}, MatchPolicy(max_offers=3))
    covered = {t for c in plan.choices for t in c.covers_topics}
    assert len(plan.choices) <= 3
    assert covered == {"PCB", "LEGAL", "FIN", "MONLAB"} and plan.uncovered == ()
    assert plan.choices[0].partner.partner_id == "scrc-senegal"

    tight = REAL.plan(q, {}, MatchPolicy(max_offers=1))
    assert len(tight.choices) == 1 and set(tight.uncovered) == {"FIN", "MONLAB"}


def test_a_topic_nobody_covers_is_reported_uncovered() -> None:
    plan = REAL.plan(REAL.query(profile("SEN", ["MERCURY"])), {}, MatchPolicy())
    assert plan.choices == () and plan.uncovered == ("MERCURY",)


def test_the_next_partner_for_a_slot_is_one_not_yet_asked() -> None:
    q = REAL.query(profile("SEN", ["PCB"], ["training"], ["fr"]))
    asked = {"scrc-senegal", "unep-chemicals"}
    choice = REAL.next_for_slot(q, {}, slot=0, role="lead", slot_topics=["PCB"], exclude=asked)
    assert choice is not None and choice.partner.partner_id not in asked
    assert "PCB" in choice.covers_topics and choice.role == "lead"
    everyone = {p.partner_id for p in REAL.partners}
    assert (
        REAL.next_for_slot(q, {}, slot=0, role="lead", slot_topics=["PCB"], exclude=everyone)
        is None
    )


def test_settlement_waits_for_open_offers_then_names_uncovered_topics() -> None:
    assert settle(["PCB"], [("a", ["PCB"])], open_offers=1) is None
    matched = settle(["PCB", "FIN"], [("a", ["PCB"]), ("b", ["FIN"])], open_offers=0)
    assert matched is not None and matched.matched and matched.partners == ("a", "b")
    unmatched = settle(["PCB", "FIN"], [("a", ["PCB"])], open_offers=0)
    assert unmatched is not None and not unmatched.matched and unmatched.uncovered == ("FIN",)


@pytest.mark.parametrize(
    ("status", "decision", "verdict"),
    [
        ("offered", "accept", Verdict.APPLIED),
        ("accepted", "accept", Verdict.REPEATED),
        ("declined", "decline", Verdict.REPEATED),
        ("accepted", "decline", Verdict.CONTRADICTS),
        ("expired", "accept", Verdict.CONTRADICTS),
        # The lifecycle after acceptance (brief §7.2).
        ("accepted", "start", Verdict.APPLIED),
        ("offered", "start", Verdict.CONTRADICTS),  # accept first
        ("started", "complete", Verdict.APPLIED),
        ("accepted", "complete", Verdict.APPLIED),  # starting is optional
        ("completed", "complete", Verdict.REPEATED),
        ("completed", "withdraw", Verdict.CONTRADICTS),  # done work cannot be given up
        ("offered", "withdraw", Verdict.CONTRADICTS),  # an offer is declined, not withdrawn
        ("started", "withdraw", Verdict.APPLIED),
        ("withdrawn", "withdraw", Verdict.REPEATED),
        ("withdrawn", "complete", Verdict.CONTRADICTS),
        ("started", "accept", Verdict.REPEATED),  # the acceptance stands
    ],
)
def test_answers_are_judged_by_the_lifecycle(
    status: str, decision: Decision, verdict: Verdict
) -> None:
    assert judge_response(status, decision) is verdict


def test_a_settled_request_completes_only_when_no_work_is_live_and_some_was_done() -> None:
    assert is_complete("matched", live_work=0, completed=["a"])
    assert is_complete("unmatched", live_work=0, completed=["a"])  # partial help, delivered
    assert not is_complete("matched", live_work=1, completed=["a"])
    assert not is_complete("matched", live_work=0, completed=[])
    assert not is_complete("matching", live_work=0, completed=["a"])


def test_only_a_request_nobody_works_on_closes() -> None:
    assert closable("completed", 0) and closable("unmatched", 0) and closable("waiting", 0)
    assert not closable("waiting", 1)  # one slot waits, another is being worked on
    assert not closable("matched", 0) and not closable("matching", 0)
    assert not closable("closed", 0)


def test_a_request_with_a_waiting_slot_is_not_settled() -> None:
    assert settle(["PCB"], [("a", ["PCB"])], open_offers=0, waiting_slots=1) is None


def test_partner_data_is_checked_against_the_taxonomy() -> None:
    bad = spec(
        "bad",
        topics=["PCB", "NOPE"],
        languages=["french"],
        serves_global=False,
        kind="party",
    )
    codes = {(e.field, e.code) for e in check_partner(bad, TAXONOMY)}
    assert codes == {
        ("topics.1", "unknown_topic"),
        ("languages.0", "bad_language"),
        ("serves_countries", "serves_nobody"),
        ("country", "missing"),
    }
