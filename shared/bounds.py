"""How large anything that comes in, or goes out because of it, may be: named limits, and the
small helpers that apply them.

Why bounds matter here: intake answers every bad submission with a `ta.request.rejected` event,
published through the outbox. An answer that grows with its input (one error per list item, raw
strings quoted in full) can outgrow a Kafka record, and then it can never be published. So every
input model declares these limits (hostile input costs bounded work), and every error list and
error text is capped (a refusal costs a bounded answer), whatever the input looked like.
"""

from __future__ import annotations

from typing import Final

from pydantic import BeforeValidator

# Free text a person writes.
MAX_TITLE: Final = 200  # one line in a list or an e-mail subject
MAX_DESCRIPTION: Final = 5_000  # about two pages; details follow in the conversation with partners
MAX_PERSON_NAME: Final = 200  # display names of people and partners
MAX_ORGANISATION: Final = 300  # ministry names can be long ("Ministry of Environment and …")
MAX_REASON: Final = 2_000  # a partner's reason or an operator's note: a paragraph or two
MAX_EXTERNAL_REF: Final = 128  # upstream ids (UUIDs, case numbers) are far shorter
MAX_EMAIL: Final = 254  # RFC 5321: the longest address a mail server must accept
MAX_URL: Final = 2_000  # what browsers and proxies reliably pass
MAX_OUTCOME: Final = 5_000  # what a partner reports of finished work: about two pages
MAX_DELIVERABLES: Final = 20  # links to reports, workshop pages, data: a handful per piece of work
MAX_COMMENT: Final = 2_000  # a submitter's feedback: a paragraph or two

# Codes from reference data: taxonomy codes, chemical ids, ISO 639-1 / 3166 codes.
MAX_CODE: Final = 32  # the longest known code is about 20 characters
MAX_PARTY: Final = 3  # ISO 3166-1 alpha-3, or EUR
MAX_CODES: Final = 20  # the taxonomy has 15 topics; more entries can only be repeats
MAX_COUNTRIES: Final = 250  # every ISO 3166-1 country: a partner may serve all of them
MAX_REGIONS: Final = 10  # there are five UN regional groups

# What readers of ta.request.accepted tolerate: the limits intake applied before these bounds.
# Accepted events stay on the topic and are replayed by matcher and notifier, so tightening an
# input bound must not make an event that was already published unreadable.
ACCEPTED_MAX_TITLE: Final = 300
ACCEPTED_MAX_DESCRIPTION: Final = 20_000
ACCEPTED_MAX_EXTERNAL_REF: Final = 200

# Dead letters (shared.kafka.DeadLetters). A dead letter must always fit in one record (the
# producer's default limit is 1 MiB): a record that was poison because of its size would otherwise
# fail again on its way to the dead-letter topic, and be retried for ever in front of everything
# behind it. intake's dead-letter replay reads the same bounds: a key or header at them may have
# been cut, and a record cut is not replayed.
DLQ_MAX_VALUE_BYTES: Final = 256 * 1024
DLQ_MAX_HEADERS: Final = 64
DLQ_MAX_HEADER_CHARS: Final = 1024

# Answers: what a refusal may cost, however bad the input was.
MAX_ERRORS: Final = 50  # enough to fix a submission in one go; the rest is counted, not listed
MAX_ERROR_FIELD: Final = 200  # a dotted path into our own models is short
MAX_ERROR_CODE: Final = 64  # codes are ours (or pydantic's); never the sender's text
MAX_ERROR_MESSAGE: Final = 500  # a sentence, plus a short quote of the refused value
MAX_QUOTED: Final = 40  # how much of a refused value a message may echo back
ELLIPSIS: Final = "…"


def clip(text: str, limit: int) -> str:
    """`text`, shortened to at most `limit` characters (ending in … when it was longer)."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def quoted(value: str) -> str:
    """A refused value for an error message: quoted, and never more than a short prefix."""
    return repr(clip(value, MAX_QUOTED))


def clipping(limit: int) -> BeforeValidator:
    """A pydantic validator that shortens an overlong string instead of refusing it: for text
    we produce from untrusted input (error messages), where refusing would lose the answer."""

    def clip_any(value: object) -> object:
        return clip(value, limit) if isinstance(value, str) else value  # pydantic types the rest

    return BeforeValidator(clip_any)
