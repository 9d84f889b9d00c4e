"""Sign-in e-mails rendered from the body the handler stores (no SMTP): in English, French and
Spanish they carry one link to intake's portal that shared.sign_in_links accepts for the right
partner and contact, say it works once for 15 minutes, and are not sent at all without a secret."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from uuid import UUID, uuid4

import pytest

from services.notifier.adapters.answer_links import LinkMaker
from services.notifier.adapters.mailer import Mailer, NoSignInLink, Rendered, SmtpConfig, Templates
from services.notifier.handlers.sign_in import send_links
from shared import sign_in_links
from shared.envelope import Envelope
from shared.events import PortalSignInRequested
from tests.notifier.fakes import fake_units

SECRET = "notifier-test-secret"
PUBLIC = "https://stax.example.org/"
LINKED = Templates(links=LinkMaker(PUBLIC, SECRET))
ADDRESS = "desk@scrc-senegal.example"
ASKED_AT = datetime.now(UTC)
LINK = re.compile(r"https://stax\.example\.org/portal/sign-in/link/(\S+)")
# A phrase of each language's subject, so that a fallback to English cannot pass for French.
SUBJECTS = {"en": "your sign-in link", "fr": "votre lien de connexion", "es": "su enlace de acceso"}
# "ignore this e-mail if you did not ask", in each language.
IGNORE = {"en": "ignore this e-mail", "fr": "ignorez ce message", "es": "ignore este correo"}


async def _stored_body(partner: str = "scrc-senegal") -> tuple[UUID, UUID, str]:
    """The contact's id, the delivery's id and the body, as the handler queues them."""
    units, store = fake_units()
    async with units() as uow:
        contact = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email=ADDRESS,
            name="Desk",
            language="en",
            event_types=[],
        )
        asked = PortalSignInRequested.model_validate(
            {"email_sha256": sign_in_links.email_digest(ADDRESS), "language": "en"}
        )
        envelope = Envelope(
            id=uuid4(),
            type=asked.ce_type,
            source="/stax/intake",
            subject=asked.email_sha256,
            time=ASKED_AT,
            data=asked.model_dump(mode="json"),
        )
        await send_links(uow, envelope, asked)
    [row] = store.deliveries.values()
    return contact.contact_id, row.new.delivery_id, row.new.payload


def _render(templates: Templates, body: str, language: str) -> Rendered:
    return templates.render(PortalSignInRequested.ce_type, language, json.loads(body))


@pytest.mark.parametrize("language", ["en", "fr", "es"])
async def test_the_mail_carries_a_sign_in_link_intake_accepts_for_that_partner_and_contact(
    language: str,
) -> None:
    contact_id, delivery_id, body = await _stored_body()
    mail = _render(LINKED, body, language)

    assert mail.language == language and f'<html lang="{language}">' in mail.html
    assert SUBJECTS[language] in mail.subject and "scrc-senegal" in mail.subject
    [(url, token)] = [(m.group(0), unquote(m.group(1))) for m in LINK.finditer(mail.text)]
    assert f'href="{html.escape(url)}"' in mail.html
    link = sign_in_links.verify(token, SECRET, ASKED_AT)
    assert (link.partner_id, link.contact_id, link.nonce) == (
        "scrc-senegal",
        contact_id,
        str(delivery_id),
    )
    assert link.expires_at == ASKED_AT + timedelta(minutes=15)
    for part in (mail.text, mail.html):
        assert "scrc-senegal" in part and "15 minut" in part and IGNORE[language] in part


def test_the_mails_fifteen_minutes_are_the_links_validity() -> None:
    assert sign_in_links.VALID_FOR.total_seconds() == 15 * 60  # the templates say it in words


async def test_the_link_expires_fifteen_minutes_after_the_request_and_is_the_same_on_a_retry() -> (
    None
):
    _, _, body = await _stored_body()
    first, retry = (_render(LINKED, body, "en") for _ in range(2))
    assert first.text == retry.text  # a retried e-mail carries the one link, not a second one
    found = LINK.search(first.text)
    assert found is not None
    token = unquote(found.group(1))
    assert sign_in_links.verify(token, SECRET, ASKED_AT + timedelta(minutes=15))
    with pytest.raises(sign_in_links.ExpiredLink):
        sign_in_links.verify(token, SECRET, ASKED_AT + timedelta(minutes=15, seconds=1))


async def test_the_link_opens_no_answer_page_and_an_answer_link_is_no_sign_in_link() -> None:
    _, _, body = await _stored_body()
    mail = _render(LINKED, body, "en")
    assert "/answer/" not in mail.text
    found = LINK.search(mail.text)
    assert found is not None
    with pytest.raises(sign_in_links.BadLink):
        sign_in_links.verify(unquote(found.group(1)), "another-secret", ASKED_AT)


async def test_without_a_secret_the_mail_is_refused_for_good_rather_than_sent_without_link() -> (
    None
):
    _, delivery_id, body = await _stored_body()
    unlinked = Templates(links=None)
    with pytest.raises(NoSignInLink):
        _render(unlinked, body, "en")
    # Port 9 (discard): nothing listens, and nothing must be tried.
    config = SmtpConfig(
        host="127.0.0.1", port=9, sender="stax@example.org", timeout=1, local_hostname="t"
    )
    result = await Mailer(config, unlinked).send(
        to=ADDRESS,
        language="en",
        event_type=PortalSignInRequested.ce_type,
        body=body,
        delivery_id=str(delivery_id),
    )
    assert (result.ok, result.permanent) == (False, True)
    assert result.error is not None and "STAX_ANSWER_LINK_SECRET" in result.error
