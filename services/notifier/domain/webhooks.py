"""The webhook body (Standard Webhooks) and its signing secrets."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any


def minimised(data: dict[str, Any]) -> dict[str, Any]:
    """Event data as notifier keeps it: of the Party's contact, only the name its e-mail
    greets (templates `ta.request.accepted.*`); the address is on the contact row, and the
    organisation is used by nobody here (issue 9, finding 8)."""
    contact = data.get("contact")
    if not isinstance(contact, dict):
        return data
    return {**data, "contact": {"name": contact.get("name", "")}}


def webhook_body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """Standard Webhooks body: `{type, timestamp, data}`, serialised once and stored as sent."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp.isoformat(), "data": data},
        separators=(",", ":"),
    )


# Standard Webhooks: a symmetric secret is `whsec_` + base64 of 24 to 64 random bytes.
KEY_PREFIX = "whsec_"
KEY_BYTES = range(24, 65)


def secret_problem(secret: str) -> str | None:
    """What is wrong with a partner-chosen signing secret, or None. Checked where it is set: a
    secret the signer cannot decode failed every attempt, and one decoding (leniently) to a
    few bytes signed with a key anyone could guess."""
    if not secret.startswith(KEY_PREFIX):
        return f"must start with {KEY_PREFIX}"
    try:
        key = base64.b64decode(secret.removeprefix(KEY_PREFIX), validate=True)
    except ValueError:  # binascii.Error: bad padding, characters after the padding
        return f"is not valid base64 after {KEY_PREFIX}"
    if len(key) not in KEY_BYTES:
        return (
            f"decodes to {len(key)} bytes; it must be {KEY_BYTES.start} to "
            f"{KEY_BYTES.stop - 1} random bytes"
        )
    return None


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The new secret, plus the old one while the rotation's overlap window lasts."""
    if previous and previous_until is not None and now < previous_until:
        return [secret, previous]
    return [secret]
