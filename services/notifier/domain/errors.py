"""What a use case refuses, as exceptions the entry points turn into answers."""

from __future__ import annotations


class Refused(ValueError):  # noqa: N818 - it names the verdict, as PoisonRecord does
    """A webhook URL or address may not be called (SSRF); `code` is stable, the message why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OverQuota(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 422
    """The partner has as many endpoints (or contacts) as it may: the message says so."""


class NoKafkaTenant(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """The partner was never granted Kafka access, so its topic does not exist (brief §7.1)."""


class NotFound(LookupError):  # noqa: N818 - a domain outcome, reported as HTTP 404
    """No such endpoint, contact, channel or delivery (for this partner)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what}")


class AlreadyPending(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """A delivery to resend is still pending: it will be sent anyway."""
