"""The offer saga's decisions: how to treat an answer, and when a request is settled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import cast
from uuid import UUID

from shared import lifecycle
from shared.events import Decision
from shared.lifecycle import AssignmentStatus


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
    role: str  # lead or support


class Verdict(StrEnum):
    APPLIED = "applied"  # the answer moves the assignment on (shared.lifecycle)
    REPEATED = "repeated"  # the same answer again: nothing to do
    CONTRADICTS = "contradicts"  # the assignment is elsewhere (expired, declined, not accepted…)
    UNKNOWN_ASSIGNMENT = "unknown_assignment"
    WRONG_PARTNER = "wrong_partner"


def judge_response(status: str, decision: Decision) -> Verdict:
    return Verdict(lifecycle.judge(cast(AssignmentStatus, status), decision).value)


@dataclass(frozen=True)
class Settlement:
    matched: bool
    partners: tuple[str, ...]
    uncovered: tuple[str, ...]


def settle(
    topics: Sequence[str],
    accepted: Sequence[tuple[str, Sequence[str]]],
    open_offers: int,
    waiting_slots: int = 0,
) -> Settlement | None:
    """None while an offer is open or a slot waits for capacity; then matched when accepting
    partners cover every requested topic, else unmatched with the topics nobody covers."""
    if open_offers or waiting_slots:
        return None
    covered = {t for _, covers in accepted for t in covers}
    uncovered = tuple(t for t in dict.fromkeys(topics) if t not in covered)
    return Settlement(bool(accepted) and not uncovered, tuple(p for p, _ in accepted), uncovered)


# Where a request's matching stands before settle() may decide it; afterwards (matched,
# unmatched) only completion and closing move it, and a withdrawal that re-opens a slot.
UNSETTLED = frozenset({"matching", "waiting"})
SETTLED = frozenset({"matched", "unmatched"})


def is_complete(status: str, live_work: int, completed: Sequence[str]) -> bool:
    """A settled request is completed once no work is live on it and someone completed some."""
    return status in SETTLED and live_work == 0 and bool(completed)


def closable(status: str, live_work: int) -> bool:
    """A request closes only when nobody is working on it or being asked to: an operator or the
    submitter closes it when it waits, went unmatched or was completed (brief §7.2)."""
    return status in {"waiting", "unmatched", "completed"} and live_work == 0
