"""The assignment lifecycle (brief §7.2): which answer moves an assignment where.

Part of the published language like shared.events: matcher applies it to the state it owns, and
intake uses the same table to answer a partner's HTTP request with 409 before anything is emitted,
so the two can never disagree on what a contradiction is.

    offered ─accept→ accepted ─start→ started ─complete→ completed
       │                 │ └──────────complete──────────↗
       ├─decline→ declined └─withdraw→ withdrawn ←withdraw─ started
       └─(no answer in time)→ expired
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal

from shared.events import Decision

AssignmentStatus = Literal[
    "offered", "accepted", "declined", "expired", "started", "completed", "withdrawn"
]

# (status before, decision) → status after. Anything not listed contradicts, unless repeated.
_MOVES: Final[dict[tuple[AssignmentStatus, Decision], AssignmentStatus]] = {
    ("offered", "accept"): "accepted",
    ("offered", "decline"): "declined",
    ("accepted", "start"): "started",
    ("accepted", "complete"): "completed",
    ("started", "complete"): "completed",
    ("accepted", "withdraw"): "withdrawn",
    ("started", "withdraw"): "withdrawn",
}

# An answer already in effect: sent again (a retry, a double click), it changes nothing. Accepting
# work that has since started or ended is such a repeat: the acceptance stands.
_REPEATS: Final[frozenset[tuple[AssignmentStatus, Decision]]] = frozenset(
    {
        ("accepted", "accept"),
        ("started", "accept"),
        ("completed", "accept"),
        ("declined", "decline"),
        ("started", "start"),
        ("completed", "start"),
        ("completed", "complete"),
        ("withdrawn", "withdraw"),
    }
)

# How far along each status is: intake, which hears of matcher's statuses after the fact, takes
# the furthest of what it heard and what the partner told it.
_PROGRESS: Final[dict[AssignmentStatus, int]] = {
    "offered": 0,
    "accepted": 1,
    "started": 2,
    "declined": 3,
    "expired": 3,
    "completed": 3,
    "withdrawn": 3,
}

# Statuses that hold a unit of the partner's capacity (brief §7.2).
HOLDS_CAPACITY: Final[frozenset[AssignmentStatus]] = frozenset({"offered", "accepted", "started"})


class Verdict(StrEnum):
    APPLIED = "applied"  # the answer moves the assignment on
    REPEATED = "repeated"  # already in effect: nothing to do
    CONTRADICTS = "contradicts"  # the assignment is elsewhere (expired, declined, not accepted…)


def judge(status: AssignmentStatus, decision: Decision) -> Verdict:
    if (status, decision) in _MOVES:
        return Verdict.APPLIED
    return Verdict.REPEATED if (status, decision) in _REPEATS else Verdict.CONTRADICTS


def after(status: AssignmentStatus, decision: Decision) -> AssignmentStatus:
    """The status an applied answer leads to; `status` itself for any other answer."""
    return _MOVES.get((status, decision), status)


def furthest(a: AssignmentStatus, b: AssignmentStatus) -> AssignmentStatus:
    """The later of two views of one assignment (a tie keeps `a`: the authoritative one)."""
    return b if _PROGRESS[b] > _PROGRESS[a] else a


def is_final(status: AssignmentStatus) -> bool:
    return _PROGRESS[status] == 3
