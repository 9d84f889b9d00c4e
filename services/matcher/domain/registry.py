"""The registry index and the choice of partners for a request.

No I/O here. Matching must stay well under 10 ms of CPU against 10,000 partners, so everything a
request does not change is computed once, when the registry is built: each partner's topics,
assistance types, languages and regions become integer bit masks (coverage is a popcount), and an
inverted index topic → partners means only partners covering a requested topic are looked at.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from services.matcher.domain.compiled import Partner, Query, RequestProfile
from services.matcher.domain.partners import PartnerKind, PartnerSpec
from services.matcher.domain.scoring import (
    GEO_COUNTRY,
    GEO_GLOBAL,
    GEO_REGION,
    W_GEO,
    W_HEADROOM,
    W_LANG,
    W_TOPICS,
    W_TYPES,
    explain,
)


@dataclass(frozen=True)
class MatchPolicy:
    max_offers: int = 3  # never more partners asked at once per request
    min_offers: int = 2  # a lead plus at least one support partner, when one exists


@dataclass(frozen=True)
class Choice:
    """One partner chosen for one slot, with its score and the reasons a person can check."""

    partner: Partner
    slot: int
    role: str  # lead | support
    score: float
    reasons: tuple[str, ...]
    covers_topics: tuple[str, ...]  # requested topics the partner covers
    slot_topics: tuple[str, ...]  # the topics this slot is responsible for


@dataclass(frozen=True)
class Plan:
    choices: tuple[Choice, ...]
    uncovered: tuple[str, ...]


def _bits(values: Iterable[str], table: dict[str, int]) -> int:
    mask = 0
    for value in values:
        mask |= table.setdefault(value, 1 << len(table))
    return mask


def _known_bits(values: Iterable[str], table: Mapping[str, int]) -> int:
    mask = 0
    for value in values:
        mask |= table.get(value, 0)
    return mask


class Registry:
    """The active partners, indexed for matching. Built once per registry version."""

    def __init__(self, specs: Iterable[PartnerSpec], version: int = 0) -> None:
        self.version = version
        self._topic_bit: dict[str, int] = {}
        self._type_bit: dict[str, int] = {}
        self._lang_bit: dict[str, int] = {}
        self._region_bit: dict[str, int] = {}
        # Index order is the tie-break among equal scores: real partners before demo data, then id.
        live = sorted(
            (s for s in specs if s.active and s.capacity > 0), key=lambda s: (s.demo, s.partner_id)
        )
        self.partners: tuple[Partner, ...] = tuple(self._compile(s) for s in live)
        index: dict[str, list[int]] = {}
        for i, spec in enumerate(live):
            for topic in set(spec.topics):
                index.setdefault(topic, []).append(i)
        self._by_topic = {t: tuple(ids) for t, ids in index.items()}

    def _compile(self, s: PartnerSpec) -> Partner:
        return Partner(
            spec=s,
            partner_id=s.partner_id,
            topic_mask=_bits(s.topics, self._topic_bit),
            type_mask=_bits(s.assistance_types, self._type_bit),
            lang_mask=_bits(s.languages, self._lang_bit),
            region_mask=_bits(s.serves_regions, self._region_bit),
            countries=frozenset(s.serves_countries),
            serves_global=s.serves_global,
            own_party=s.country if s.kind is PartnerKind.PARTY else None,
            capacity=s.capacity,
        )

    def query(self, profile: RequestProfile) -> Query:
        topics = tuple(dict.fromkeys(profile.topics))
        return Query(
            profile=profile,
            topics=topics,
            topic_mask=_known_bits(topics, self._topic_bit),
            type_mask=_known_bits(profile.assistance_types, self._type_bit),
            lang_mask=_known_bits(profile.languages, self._lang_bit),
            region_mask=_known_bits(profile.regions, self._region_bit),
            n_types=len(set(profile.assistance_types)),
        )

    def candidate_ids(self, q: Query) -> list[str]:
        """Partners that cover a requested topic (before geography and capacity)."""
        seen = 0
        found: list[str] = []
        for topic in q.topics:
            for i in self._by_topic.get(topic, ()):
                p = self.partners[i]
                if not p.topic_mask & seen:  # not already met under an earlier topic
                    found.append(p.partner_id)
            seen |= self._topic_bit.get(topic, 0)
        return found

    def capable(
        self,
        q: Query,
        exclude: frozenset[str] | set[str] = frozenset(),
        slot_topics: Sequence[str] = (),
        most: int = 100,
    ) -> list[str]:
        """Partners who could serve the request (or one slot's topics) if they had room: every
        rule of scored() but capacity. A request they all fill waits for them; nobody here means
        nobody could ever serve it. At most `most`, best first: whom it waits for is bounded."""
        wanted = _known_bits(slot_topics, self._topic_bit) if slot_topics else q.topic_mask
        if not wanted:
            return []  # topics no partner knows: nobody could ever cover them
        ranked = self.scored(q, {}, exclude)
        fits = (self.partners[i] for _, i in ranked)
        return [p.partner_id for p in fits if p.topic_mask & wanted][:most]

    def scored(
        self, q: Query, loads: Mapping[str, int], exclude: frozenset[str] | set[str]
    ) -> list[tuple[float, int]]:
        """(-score, index) of every eligible partner, best first."""
        out: list[tuple[float, int]] = []
        partners, party, seen = self.partners, q.profile.party, 0
        topic_w = W_TOPICS / max(len(q.topics), 1)
        type_w = W_TYPES / q.n_types if q.n_types else 0.0
        no_types = 0.0 if q.n_types else W_TYPES  # nothing asked: every partner fits
        for topic in q.topics:
            for i in self._by_topic.get(topic, ()):
                p = partners[i]
                if p.topic_mask & seen:
                    continue  # scored already, under an earlier topic
                if party in p.countries:
                    geo = GEO_COUNTRY
                elif p.region_mask & q.region_mask:
                    geo = GEO_REGION
                elif p.serves_global:
                    geo = GEO_GLOBAL
                else:
                    continue  # does not work where the request comes from
                load = loads.get(p.partner_id, 0)
                if load >= p.capacity or p.own_party == party or p.partner_id in exclude:
                    continue
                out.append(
                    (
                        -(
                            topic_w * (p.topic_mask & q.topic_mask).bit_count()
                            + type_w * (p.type_mask & q.type_mask).bit_count()
                            + no_types
                            + W_GEO * geo
                            + (W_LANG if p.lang_mask & q.lang_mask else 0.0)
                            + W_HEADROOM * (1.0 - load / p.capacity)
                        ),
                        i,
                    )
                )
            seen |= self._topic_bit.get(topic, 0)
        out.sort()
        return out

    def plan(
        self,
        q: Query,
        loads: Mapping[str, int],
        policy: MatchPolicy,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> Plan:
        """Lead = best score; supports by greedy set cover of the uncovered topics, then topped
        up to `min_offers` with the best remaining partner (of another kind, where possible)."""
        ranked = self.scored(q, loads, exclude)
        picked: list[tuple[int, float, int]] = []  # (index, score, slot topic mask)
        if ranked:
            neg, lead = ranked[0]
            picked.append((lead, -neg, self.partners[lead].topic_mask & q.topic_mask))
        uncovered = q.topic_mask & ~(picked[0][2] if picked else 0)
        while uncovered and 0 < len(picked) < policy.max_offers:
            best = self._best_gain(ranked, uncovered, {i for i, _, _ in picked})
            if best is None:
                break
            picked.append((best[1], -best[0], self.partners[best[1]].topic_mask & uncovered))
            uncovered &= ~self.partners[best[1]].topic_mask
        self._top_up(ranked, picked, q, min(policy.min_offers, policy.max_offers))
        choices = tuple(
            self._choice(q, loads, i, score, slot=slot, slot_mask=mask)
            for slot, (i, score, mask) in enumerate(picked)
        )
        # A topic is uncovered when no partner knows it (no bit) or its bit is still set.
        missing = tuple(t for t in q.topics if not self._topic_bit.get(t, 0) & ~uncovered)
        return Plan(choices, missing)

    def _best_gain(
        self, ranked: list[tuple[float, int]], wanted: int, taken: set[int]
    ) -> tuple[float, int] | None:
        """The partner covering most of `wanted`, best score first among equals."""
        best, best_gain, full = None, 0, wanted.bit_count()
        for entry in ranked:
            if entry[1] in taken:
                continue
            gain = (self.partners[entry[1]].topic_mask & wanted).bit_count()
            if gain > best_gain:
                best, best_gain = entry, gain
                if gain == full:
                    break  # ranked is sorted by score: nobody later beats this one
        return best

    def _top_up(
        self,
        ranked: list[tuple[float, int]],
        picked: list[tuple[int, float, int]],
        q: Query,
        n: int,
    ) -> None:
        kinds = {self.partners[i].spec.kind for i, _, _ in picked}
        for other_kind_only in (True, False):
            for neg, i in ranked:
                if len(picked) >= n:
                    return
                p = self.partners[i]
                if any(i == j for j, _, _ in picked) or (other_kind_only and p.spec.kind in kinds):
                    continue
                picked.append((i, -neg, p.topic_mask & q.topic_mask))
                kinds.add(p.spec.kind)

    def next_for_slot(
        self,
        q: Query,
        loads: Mapping[str, int],
        *,
        slot: int,
        role: str,
        slot_topics: Sequence[str],
        exclude: frozenset[str] | set[str],
    ) -> Choice | None:
        """The next best partner not yet asked for a slot that was declined or expired."""
        wanted = _known_bits(slot_topics, self._topic_bit) or q.topic_mask
        best = self._best_gain(self.scored(q, loads, exclude), wanted, set())
        if best is None:
            return None
        choice = self._choice(q, loads, best[1], -best[0], slot=slot, slot_mask=wanted)
        return Choice(
            partner=choice.partner,
            slot=slot,
            role=role,
            score=choice.score,
            reasons=choice.reasons,
            covers_topics=choice.covers_topics,
            slot_topics=tuple(slot_topics),
        )

    def _choice(
        self, q: Query, loads: Mapping[str, int], i: int, score: float, *, slot: int, slot_mask: int
    ) -> Choice:
        p = self.partners[i]
        covers = tuple(t for t in q.topics if self._topic_bit.get(t, 0) & p.topic_mask)
        return Choice(
            partner=p,
            slot=slot,
            role="lead" if slot == 0 else "support",
            score=round(min(max(score, 0.0), 1.0), 3),
            reasons=explain(p, q, loads.get(p.partner_id, 0), covers),
            covers_topics=covers,
            slot_topics=tuple(t for t in q.topics if self._topic_bit.get(t, 0) & slot_mask),
        )
