"""intake's HTTP routes: parse once → authorise → open a unit → call one handler → answer.

Every input is validated once: path and query parameters and the small bodies by FastAPI, the
submission's body by `domain.submissions.validate` alone (shape and reference data in one pass, so
a 422 lists every bad field), which is why `POST /v1/requests` reads its body itself. One module
per audience: requests (submitters and operators), partners (answers), reports and dead letters
(operators).
"""

from __future__ import annotations

from fastapi import APIRouter

from services.intake.api import dead_letters, partners, reports, requests
from services.intake.domain.model import Clock
from services.intake.domain.reference import Reference
from services.intake.handlers.answers import OfferWait


def router(*, reference: Reference, clock: Clock, offer_wait: OfferWait) -> APIRouter:
    api = APIRouter(prefix="/v1")
    requests.install_requests(api, reference, clock)
    requests.install_erasure(api, clock)
    partners.install(api, clock, offer_wait)
    requests.install_closing(api, clock)
    reports.install(api)
    dead_letters.install(api, clock)
    return api
