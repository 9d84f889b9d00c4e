"""The offer saga's decisions: how to treat an answer, and when a request is settled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID


@dataclass(frozen=True)
class Slot:
    """A place to fill for a request: slot 0 leads, the others support, for their topics."""

    slot: int
    role: str
    topics: tuple[str, ...]


@dataclass(frozen=True)
class Assignment:
    """An offer to a partner and where it stands (offered, accepted, declined or expired)."""

    assignment_id: UUID
    request_id: UUID
    partner_id: str
    slot: int | None  # offers made before the saga existed have none
    status: str
    respond_by: datetime


class Verdict(StrEnum):
    APPLIED = "applied"  # the offer was open: the answer changes it
    REPEATED = "repeated"  # the same answer again: nothing to do
    CONTRADICTS = "contradicts"  # the offer is closed otherwise (expired, or answered differently)
    UNKNOWN_ASSIGNMENT = "unknown_assignment"
    WRONG_PARTNER = "wrong_partner"


_SAME = {("accepted", "accept"), ("declined", "decline")}


def judge_response(status: str, decision: str) -> Verdict:
    if status == "offered":
        return Verdict.APPLIED
    return Verdict.REPEATED if (status, decision) in _SAME else Verdict.CONTRADICTS


@dataclass(frozen=True)
class Settlement:
    matched: bool
    partners: tuple[str, ...]
    uncovered: tuple[str, ...]


def settle(
    topics: Sequence[str], accepted: Sequence[tuple[str, Sequence[str]]], open_offers: int
) -> Settlement | None:
    """None while an offer is still open; then matched when accepting partners cover every
    requested topic, else unmatched with the topics nobody covers."""
    if open_offers:
        return None
    covered = {t for _, covers in accepted for t in covers}
    uncovered = tuple(t for t in dict.fromkeys(topics) if t not in covered)
    return Settlement(bool(accepted) and not uncovered, tuple(p for p, _ in accepted), uncovered)
