"""What a valid submission is and what an accepted request says.

`validate` turns any decoded JSON value into either a `RequestSubmission` or the list of
`FieldError`s; the same list feeds HTTP 422 bodies and `ta.request.rejected` events. However large
or strange the input, that list is bounded (shared.bounds): at most MAX_ERRORS errors plus one
that counts the rest, each quoting at most a short prefix of what was sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter, ValidationError

from services.intake.domain.reference import Party, Reference, eligibility
from shared.bounds import MAX_CODE, MAX_CODES, MAX_PARTY, quoted
from shared.errors import from_pydantic
from shared.events import (
    FieldError,
    RequestAccepted,
    RequestRejected,
    RequestSubmission,
    cap_errors,
)

# Text fields must say something; pydantic bounds their maximum length (shared.events).
MIN_TITLE = 3
MIN_DESCRIPTION = 10


def body_hash(submission: RequestSubmission) -> str:
    """A stable fingerprint of a submission, to tell a retry from a changed resubmission."""
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate(
    raw: object, reference: Reference, today: date
) -> RequestSubmission | list[FieldError]:
    """Every reason `raw` is not an acceptable submission, or the submission itself."""
    errors: list[FieldError] = []
    submission: RequestSubmission | None = None
    try:
        submission = RequestSubmission.model_validate(raw)
    except ValidationError as exc:
        errors += from_pydantic(exc.errors(include_url=False))
    if isinstance(raw, Mapping):
        # Reference checks run on the raw data too, so one answer lists shape AND meaning errors.
        errors += _reference_errors(raw, reference, today)
    if errors or submission is None:
        return _dedupe(errors)
    return submission


def _reference_errors(
    raw: Mapping[str, Any], reference: Reference, today: date
) -> list[FieldError]:
    """Checks against the reference data and the calendar; wrongly typed fields are skipped
    here because pydantic already reports them."""
    return [
        *_party_errors(raw.get("party"), reference),
        *_code_errors(raw, "topics", reference.topics, "unknown_topic", required=True),
        *_code_errors(
            raw, "assistance_types", reference.assistance_types, "unknown_assistance_type", True
        ),
        *_code_errors(raw, "pops", reference.chemicals, "unknown_chemical", required=False),
        *_code_errors(raw, "languages", reference.languages, "unknown_language", required=True),
        *_text_errors(raw),
        *_date_errors(raw.get("needed_by"), today),
    ]


def _party_errors(code: object, reference: Reference) -> Iterator[FieldError]:
    if not isinstance(code, str) or len(code) > MAX_PARTY:
        return  # pydantic reports the type or the length
    party = reference.parties.get(code)
    if party is None:
        yield FieldError(
            field="party", code="unknown_party", message=f"{quoted(code)} is not known"
        )
    elif not party.is_party:
        yield FieldError(
            field="party",
            code="not_a_party",
            message=f"{party.name} is not a Party to the Stockholm Convention",
        )
    elif party.category == "developed":
        yield FieldError(field="party", code="not_eligible", message=_why_not_eligible(party))


def _why_not_eligible(party: Party) -> str:
    return (
        f"{party.name} ({party.region}) is listed as a developed-country Party; technical "
        "assistance under Article 12 is for developing-country Parties and Parties with "
        "economies in transition"
    )


def _code_errors(
    raw: Mapping[str, Any], field: str, known: frozenset[str], code: str, required: bool
) -> Iterator[FieldError]:
    values = raw.get(field)
    if not isinstance(values, list):
        return
    if required and not values:
        yield FieldError(field=field, code="too_few", message="give at least one code")
    if len(values) > MAX_CODES:
        # One error for the list, none per item: an answer must not grow with the input.
        yield FieldError(field=field, code="too_many", message=f"at most {MAX_CODES} codes")
        return
    seen: set[str] = set()
    for n, value in enumerate(values):
        if not isinstance(value, str) or len(value) > MAX_CODE:
            continue  # pydantic reports the type or the length
        if value not in known:
            yield FieldError(
                field=f"{field}.{n}", code=code, message=f"{quoted(value)} is not known"
            )
        elif value in seen:
            yield FieldError(
                field=f"{field}.{n}", code="duplicate", message=f"{quoted(value)} again"
            )
        seen.add(value)


def _text_errors(raw: Mapping[str, Any]) -> Iterator[FieldError]:
    for field, least in (
        ("external_ref", 1),
        ("title", MIN_TITLE),
        ("description", MIN_DESCRIPTION),
    ):
        text = raw.get(field)
        if isinstance(text, str) and len(text.strip()) < least:
            yield FieldError(
                field=field, code="too_short", message=f"needs at least {least} visible characters"
            )
    contact = raw.get("contact")
    if isinstance(contact, Mapping):
        for field in ("name", "organisation"):
            text = contact.get(field)
            if isinstance(text, str) and not text.strip():
                yield FieldError(field=f"contact.{field}", code="too_short", message="is blank")


_DATE = TypeAdapter(date)


def _date_errors(value: object, today: date) -> Iterator[FieldError]:
    if value is None:
        return
    try:
        needed_by = _DATE.validate_python(value)  # the same lax rules as the model's field
    except ValidationError:
        return  # pydantic reports the format
    if needed_by < today:
        yield FieldError(
            field="needed_by", code="in_the_past", message=f"{needed_by} is before today ({today})"
        )


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    """The final form of an error list (HTTP and Kafka alike): each (field, code) once, since
    pydantic and the reference checks may both flag, say, an empty list; and capped."""
    seen: set[tuple[str | None, str]] = set()
    out = []
    for error in errors:
        if (error.field, error.code) not in seen:
            seen.add((error.field, error.code))
            out.append(error)
    return cap_errors(out)


def accept(
    submission: RequestSubmission,
    *,
    request_id: UUID,
    submitter: str,
    reference: Reference,
    now: datetime,
) -> RequestAccepted:
    """The accepted request; `submission` must have passed `validate`."""
    party = reference.parties[submission.party]
    return RequestAccepted(
        **submission.model_dump(),
        request_id=request_id,
        submitter=submitter,
        region=party.region,
        eligibility=eligibility(party),
        accepted_at=now,
    )


def reject(raw: Mapping[str, Any], *, submitter: str, errors: list[FieldError]) -> RequestRejected:
    """The answer to a submission that `validate` refused (or that conflicts with an earlier one);
    its external_ref is echoed only when it is one, so the submitter can correlate."""
    ref = raw.get("external_ref")
    return RequestRejected(
        external_ref=ref if isinstance(ref, str) else None, submitter=submitter, errors=errors
    )
