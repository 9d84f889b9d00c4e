"""Which of two views of a request's status is the later one, whatever order intake heard them in.

The matcher decides a request's status and tells intake on two topics: ta.requests.v1 (waiting,
matched, unmatched, completed, closed) and ta.assignments.v1 (offered: someone is being asked,
so the request is matching). Each topic keeps one request's events in order, but the two
interleave freely at intake, so "the last event consumed" is not "the last decision taken".
The rules, which give the same final status for every interleaving:

- closed is final: nothing moves a closed request (the matcher closes nothing twice);
- completed is final but for closed: every accepted slot was done, nothing is offered again;
- between the others (matching, waiting, matched, unmatched) the matcher's latest decision
  wins, by its event's ce_time: all of them are stamped by the matcher, which decides them one
  at a time under its lock on the request, so their times are in the order it took them. An
  offer older than the settlement (it arrived late, from the other topic) changes nothing; an
  offer newer than it (a waiting request's, or a withdrawn slot's re-offer) makes it matching.
  Equal times are settled by a fixed rank, so two events never win in turn;
- intake's own "accepted" is the first status: any of the matcher's follows it.
"""

from __future__ import annotations

from typing import Final

from services.intake.domain.model import RequestStatus, StatusMark

_FINAL: Final[dict[RequestStatus, int]] = {"completed": 1, "closed": 2}

# Ties of ce_time only (two decisions in one matcher transaction): a settlement outranks an
# offer, and matched, the better news, outranks the rest.
_RANK: Final[dict[RequestStatus, int]] = {
    "accepted": 0,
    "matching": 1,
    "waiting": 2,
    "unmatched": 3,
    "matched": 4,
}


def supersedes(new: StatusMark, current: StatusMark) -> bool:
    """True if `new` is the request's status once `current` is known too."""
    new_final, current_final = _FINAL.get(new.status, 0), _FINAL.get(current.status, 0)
    if new_final or current_final:
        return new_final > current_final
    if current.at is None:
        return new.at is not None
    if new.at is None:
        return False
    return (new.at, _RANK[new.status]) > (current.at, _RANK[current.status])
