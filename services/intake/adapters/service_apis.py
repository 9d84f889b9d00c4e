"""The console's door to matcher's and notifier's own HTTP APIs: services never import each
other, and never read each other's tables. Every call carries the signed-in operator's key, so
matcher and notifier decide what that operator may do, as they do for any API client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

MAX_LISTED = 500  # partners or deliveries read for one page


class UnreachableError(Exception):
    """The service did not answer (down, or too slow)."""


@dataclass(frozen=True)
class Answer:
    """A service's answer: its status and JSON body (the one error shape on 4xx)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    def reasons(self) -> str:
        """The errors of the one error body, as one line a page can show."""
        errors = self.body.get("errors", []) if isinstance(self.body, dict) else []
        said = [f"{e.get('field') or ''} {e.get('message', '')}".strip() for e in errors]
        return "; ".join(said)[:1000] or f"HTTP {self.status}"


class ServiceApis:
    def __init__(self, http: httpx.AsyncClient, *, matcher_url: str, notifier_url: str) -> None:
        self._http = http
        self._matcher = matcher_url.rstrip("/")
        self._notifier = notifier_url.rstrip("/")

    async def partners(self, key: str) -> Answer:
        return await self._call("GET", f"{self._matcher}/v1/partners", key)

    async def edit_partner(self, key: str, partner_id: str, patch: dict[str, Any]) -> Answer:
        url = f"{self._matcher}/v1/partners/{quote(partner_id, safe='')}"
        return await self._call("PATCH", url, key, json=patch)

    async def deliveries(self, key: str, status: str | None) -> Answer:
        params: dict[str, str | int] = {"limit": MAX_LISTED}
        if status:
            params["status"] = status
        return await self._call("GET", f"{self._notifier}/v1/deliveries", key, params=params)

    async def resend(self, key: str, delivery_id: UUID) -> Answer:
        url = f"{self._notifier}/v1/deliveries/{delivery_id}/resend"
        return await self._call("POST", url, key)

    async def _call(self, method: str, url: str, key: str, **kwargs: Any) -> Answer:
        try:
            response = await self._http.request(
                method, url, headers={"Authorization": f"Bearer {key}"}, **kwargs
            )
        except httpx.HTTPError as exc:
            raise UnreachableError(f"{method} {url}: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return Answer(response.status_code, body)
