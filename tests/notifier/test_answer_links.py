"""Offer e-mails carry signed Accept / Decline links to intake's pages when a secret is set."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from uuid import uuid4

import pytest

from services.notifier import domain
from services.notifier.adapters.answer_links import LinkMaker, link_maker
from services.notifier.adapters.mailer import Rendered, Templates
from shared.answer_links import verify
from shared.events import AssignmentOffered, Event, RequestWaiting, Role

SECRET = "notifier-test-secret"
PUBLIC = "https://stax.example.org/"
LINKED = Templates(links=LinkMaker(PUBLIC, SECRET))
RESPOND_BY = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
WORDS = {"en": ("Accept", "Decline"), "fr": ("Accepter", "Refuser"), "es": ("Aceptar", "Rechazar")}


def _offer(partner_name: str = "UNIDO") -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=uuid4(),
        partner_id="unido",
        partner_name=partner_name,
        role=Role.LEAD,
        score=0.9,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=RESPOND_BY,
    )


def _render(templates: Templates, event: Event, language: str) -> Rendered:
    data = domain.minimised(event.model_dump(mode="json"))
    body = domain.webhook_body(event.ce_type, datetime.now(UTC), data)
    return templates.render(event.ce_type, language, json.loads(body))


def _links(text: str) -> dict[str, str]:
    found = re.findall(r"(\w+): (https://stax\.example\.org/answer/\S+)", text)
    return dict(found)


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_an_offer_mail_carries_signed_accept_and_decline_links_in_each_language(
    language: str,
) -> None:
    offer = _offer()
    mail = _render(LINKED, offer, language)
    accept_word, decline_word = WORDS[language]
    links = _links(mail.text)
    assert set(links) == {accept_word, decline_word}
    for word, decision in ((accept_word, "accept"), (decline_word, "decline")):
        url = links[word]
        assert f'href="{html.escape(url)}"' in mail.html and f">{word}</a>" in mail.html
        token = unquote(url.removeprefix("https://stax.example.org/answer/"))
        link = verify(token, SECRET, datetime.now(UTC))
        assert (link.assignment_id, link.partner_id, link.decision, link.expires_at) == (
            offer.assignment_id,
            "unido",
            decision,
            RESPOND_BY,
        )


def test_the_links_expire_with_the_offer() -> None:
    mail = _render(LINKED, _offer(), "en")
    token = _links(mail.text)["Accept"].rsplit("/", 1)[1]
    assert verify(token, SECRET, RESPOND_BY).decision == "accept"
    with pytest.raises(ValueError, match="expired"):
        verify(token, SECRET, RESPOND_BY + timedelta(seconds=1))


@pytest.mark.parametrize("language", ["en", "fr", "es"])
def test_without_a_secret_an_offer_mail_has_no_links(language: str) -> None:
    assert link_maker(PUBLIC, "") is None
    mail = _render(Templates(links=None), _offer(), language)
    assert "/answer/" not in mail.text and "/answer/" not in mail.html
    assert WORDS[language][0] not in mail.html


def test_only_offers_get_links() -> None:
    waiting = RequestWaiting(request_id=uuid4(), partners=["unido"], topics=["PCB"], reason="x")
    mail = _render(LINKED, waiting, "en")
    assert "/answer/" not in mail.text and "/answer/" not in mail.html


def test_the_offer_mail_escapes_the_partner_name_next_to_its_links() -> None:
    mail = _render(LINKED, _offer(partner_name='<script>alert("x")</script>'), "en")
    assert "<script>" not in mail.html
    assert "&lt;script&gt;" in mail.html
    assert len(_links(mail.text)) == 2
