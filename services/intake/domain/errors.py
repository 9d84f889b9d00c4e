"""What a use case reports instead of a result; the entry points turn each into an answer."""

from __future__ import annotations

from services.intake.domain.dead_letters import Refusal
from shared.events import FieldError


class InvalidSubmission(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 422
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class IdempotencyConflict(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """The idempotency key (header or external_ref) was used before with a different body."""


class UnknownRequest(Exception):  # noqa: N818 - HTTP 404: no such request (for this caller)
    pass


class UnknownAssignment(Exception):  # noqa: N818 - HTTP 404: intake has not seen this offer
    pass


class NotYourAssignment(Exception):  # noqa: N818 - HTTP 403: offered to another partner
    pass


class AnswerConflict(Exception):  # noqa: N818 - HTTP 409: contradicts an answer or the offer's end
    pass


class NotClosable(Exception):  # noqa: N818 - HTTP 409: partners still work on it, or closed
    pass


class LinkUsed(Exception):  # noqa: N818 - HTTP 409 page: a one-click answer link is single use
    pass


class UnknownDeadLetter(Exception):  # noqa: N818 - HTTP 404: no such offset on ta.deadletter.v1
    pass


class NotReplayable(Exception):  # noqa: N818 - HTTP 409: incomplete, foreign, or replayed before
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class DeadLettersUnavailable(Exception):  # noqa: N818 - HTTP 503: Kafka did not answer in time
    pass
