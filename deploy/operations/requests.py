"""`stax requests …`: operators' commands on requests, sent to intake's HTTP API.

Through the API rather than the database: intake owns its schema, and its erasure use case
holds the lock that makes a repeated or concurrent erasure emit one event. It also works the same
against any installation, with nothing but a URL and an operator key.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from deploy.operations.settings import OperationsError, OperationsSettings


def erase(cfg: OperationsSettings, request_id: UUID) -> dict[str, Any]:
    """Ask intake to erase a request's personal data; its answer (request_id, erased_at)."""
    if cfg.operator_key is None:
        raise OperationsError(
            "set STAX_OPERATOR_KEY to an operator key (`stax keys create --role operator`)"
        )
    answer = httpx.post(
        f"{cfg.intake_url}/v1/requests/{request_id}/erasure",
        headers={"Authorization": f"Bearer {cfg.operator_key.get_secret_value()}"},
        timeout=30,
    )
    if answer.status_code != httpx.codes.ACCEPTED:
        raise OperationsError(f"intake answered {answer.status_code}: {answer.text}")
    body: dict[str, Any] = answer.json()
    return body
