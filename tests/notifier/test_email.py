"""E-mail through a real aiosmtpd server: multipart text + HTML from templates in the contact's
language (English fallback), SMTP 4xx retried, 5xx a permanent failure; and who hears what."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from email import policy
from email.errors import MessageError
from email.message import EmailMessage
from uuid import uuid4

import asyncpg
import pytest

from services.notifier import domain
from services.notifier.adapters.mail_bytes import flatten
from services.notifier.unit_of_work import pg_units
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    RequestMatched,
    RequestUnmatched,
)
from tests.notifier.helpers import (
    WRITTEN_HEADERS,
    add_contact,
    apply,
    deliveries_of,
    delivery_deps,
    envelope_of,
    offer_event,
    outbox_events,
    request_accepted,
    run_workers_until,
    settled,
    smtp_server,
)


def _parts(mail: EmailMessage) -> tuple[str, str]:
    text, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


async def test_an_offer_email_is_multipart_text_and_html_in_the_contacts_language(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner, address = f"p-{unique}", f"fr-{unique}@example.org"
    with smtp_server() as (sink, port):
        await add_contact(pool, partner, address, language="fr")
        envelope, offer = offer_event(partner)
        await apply(pool, offer, envelope)
        async with delivery_deps(pool, [partner], smtp_port=port) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [mail] = sink.to(address)
    assert mail.get_content_type() == "multipart/alternative"
    assert str(mail["Subject"]).startswith("STAX : nouvelle offre")
    assert mail["Content-Language"] == "fr"
    text, html = _parts(mail)
    assert str(offer.request_id) in text and "Merci de répondre" in text
    assert "serves &lt;SEN&gt;" in html and "<SEN>" not in html  # the HTML part is escaped
    [row] = await deliveries_of(pool, partner)
    assert (row["channel"], row["status"], row["attempts"]) == ("email", "delivered", 1)
    assert mail["X-STAX-Delivery-Id"] == str(row["delivery_id"])


async def test_a_language_without_templates_falls_back_to_english(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner, address = f"p-{unique}", f"ar-{unique}@example.org"
    with smtp_server() as (sink, port):
        await add_contact(pool, partner, address, language="ar")
        await apply(pool, offer_event(partner)[1])
        async with delivery_deps(pool, [partner], smtp_port=port) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [mail] = sink.to(address)
    assert str(mail["Subject"]).startswith("STAX: new assistance offer")
    assert mail["Content-Language"] == "en"


async def test_an_smtp_4xx_is_retried_on_the_schedule_then_delivered(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner, address = f"p-{unique}", f"busy-{unique}@soft.invalid"
    with smtp_server() as (sink, port):
        sink.soft_failures = 2
        await add_contact(pool, partner, address)
        await apply(pool, offer_event(partner)[1])
        async with delivery_deps(pool, [partner], smtp_port=port, schedule=[0, 0.2, 0.2]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert sink.refused == [address, address] and len(sink.to(address)) == 1


async def test_an_smtp_5xx_is_a_permanent_failure_recorded_after_one_attempt(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner, address = f"p-{unique}", f"gone-{unique}@hard.invalid"
    with smtp_server() as (sink, port):
        await add_contact(pool, partner, address)
        await apply(pool, offer_event(partner)[1])
        async with delivery_deps(pool, [partner], smtp_port=port, schedule=[0, 0.2, 0.2]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("SMTP 550")
    assert sink.messages == []
    [failed] = await outbox_events(pool, "ta.notification.failed", row["delivery_id"])
    assert failed["channel"] == "email"


async def test_the_requesting_party_hears_acceptance_each_partner_acceptance_and_the_outcome(
    pool: asyncpg.Pool, unique: str
) -> None:
    request_id, address = uuid4(), f"party-{unique}@example.sn"
    secretariat = f"secretariat-{unique}@example.org"
    accepted = request_accepted(request_id, address)
    events = [
        accepted,
        AssignmentAccepted(assignment_id=uuid4(), request_id=request_id, partner_id="unido"),
        AssignmentAccepted(assignment_id=uuid4(), request_id=request_id, partner_id="brs-sen"),
        RequestMatched(request_id=request_id, partners=["unido", "brs-sen"], uncovered_topics=[]),
        RequestUnmatched(request_id=request_id, partners=["unido"], uncovered_topics=["DDT"]),
    ]
    with smtp_server() as (sink, port):
        await add_contact(pool, "secretariat", secretariat)
        first = envelope_of(accepted)
        for event in events:
            await apply(pool, event, first if event is accepted else None)
        await apply(pool, accepted, first)  # a redelivered event adds no second delivery
        party = "party:SEN"
        rows = [r for r in await deliveries_of(pool, party) if r["request_id"] == request_id]
        assert len(rows) == 5
        async with delivery_deps(pool, [party, "secretariat"], smtp_port=port) as deps:

            async def done() -> bool:
                return len(sink.to(address)) == 5 and len(sink.to(secretariat)) == 1

            await run_workers_until(deps, done)
    subjects = [str(m["Subject"]) for m in sink.to(address)]
    # No order is promised between deliveries (each goes on its own); all five arrive.
    assert "STAX: su solicitud «PCB inventory <support>» fue recibida" in subjects
    assert sum("aceptó su solicitud" in s for s in subjects) == 2
    assert [str(m["Subject"]) for m in sink.to(secretariat)] == [
        f"STAX: no partner could be found for request {request_id}"
    ]


async def test_a_completed_assignment_mails_its_outcome_and_deliverables_to_party_and_partner(
    pool: asyncpg.Pool, unique: str
) -> None:
    request_id, address = uuid4(), f"party-{unique}@example.sn"
    partner, partner_address = f"p-{unique}", f"desk-{unique}@example.org"
    outcome, link = "Inventory of 40 PCB sites finished", "https://docs.example.org/r?v=1&lang=fr"
    completed = AssignmentCompleted(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner,
        outcome=outcome,
        deliverables=[link],
    )
    with smtp_server() as (sink, port):
        await add_contact(pool, partner, partner_address, language="fr")
        await apply(pool, request_accepted(request_id, address))
        await apply(pool, completed)
        async with delivery_deps(pool, ["party:SEN", partner], smtp_port=port) as deps:

            async def done() -> bool:
                return len(sink.to(address)) == 2 and len(sink.to(partner_address)) == 1

            await run_workers_until(deps, done)
    # The Party reads Spanish (the request's first language), the partner's desk French.
    [to_party] = [m for m in sink.to(address) if "terminó su trabajo" in str(m["Subject"])]
    [to_partner] = sink.to(partner_address)
    assert str(to_partner["Subject"]).startswith(f"STAX : le partenaire {partner} a terminé")
    for mail, language in ((to_party, "es"), (to_partner, "fr")):
        assert mail["Content-Language"] == language
        text, html = _parts(mail)
        assert outcome in text and outcome in html
        assert f"- {link}" in text
        escaped = link.replace("&", "&amp;")
        assert f'<a href="{escaped}">{escaped}</a>' in html


async def test_a_payload_its_template_cannot_render_fails_once_and_is_kept(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with smtp_server() as (sink, port):
        contact_id = await add_contact(pool, partner, f"x-{unique}@example.org")
        async with pg_units(pool)() as uow:
            await uow.deliveries.add(
                domain.NewDelivery(
                    delivery_id=uuid4(),
                    event_id=uuid4(),
                    event_type="ta.request.accepted",
                    partner_id=partner,
                    request_id=None,
                    payload=domain.webhook_body("ta.request.accepted", datetime.now(UTC), {}),
                    contact_id=contact_id,
                )
            )
        async with delivery_deps(pool, [partner], smtp_port=port) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("template:") and sink.messages == []


async def test_a_notice_that_arrives_before_its_request_waits_for_the_requester_contact(
    pool: asyncpg.Pool, unique: str
) -> None:
    # ta.assignments.v1 and ta.requests.v1 are separate topics: the partner's acceptance may be
    # consumed before the request that carries the Party's contact.
    request_id, address = uuid4(), f"early-{unique}@example.sn"
    taken = AssignmentAccepted(assignment_id=uuid4(), request_id=request_id, partner_id="unido")
    early = await apply(pool, taken)
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifier.deliveries "
            "WHERE event_id = $1 AND contact_id IS NOT NULL",
            early,
        )
        == 0
    )

    await apply(pool, request_accepted(request_id, address))

    rows = await pool.fetch(
        "SELECT d.event_type FROM notifier.deliveries d JOIN notifier.contacts c "
        "USING (contact_id) WHERE c.email = $1 ORDER BY d.event_type",
        address,
    )
    assert [r["event_type"] for r in rows] == ["ta.assignment.accepted", "ta.request.accepted"]
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM notifier.requester_pending WHERE request_id = $1", request_id
        )
        == 0
    )


# The headers notifier writes, and nothing else: a title must never add one.
OUR_HEADERS = sorted(WRITTEN_HEADERS)
INJECTION = "Hi=0D=0AReply-To:_attacker@evil.example=0D=0AContent-Type:_text/html=0D=0A=0D=0A"


@pytest.mark.parametrize(
    ("title", "shown"),
    [
        # An RFC 2047 encoded word: Python 3.11.7 decodes it into the header (CVE-2024-6923).
        (f"=?utf-8?q?{INJECTION}<h1>Pay_here</h1>?=", f"= ?utf-8?q?{INJECTION}<h1>Pay_here</h1>?="),
        # Raw line breaks, and the Unicode ones str.splitlines() also breaks on.
        (
            "Hi\r\nReply-To: attacker@evil.example\r\n\r\n<h1>Pay here</h1>",
            "Hi Reply-To: attacker@evil.example <h1>Pay here</h1>",
        ),
        (
            "Hi\u2028Reply-To: attacker@evil.example\x85\x0bBcc:\x00x@evil.example",
            "Hi Reply-To: attacker@evil.example Bcc: x@evil.example",
        ),
    ],
    ids=["encoded-word", "crlf", "unicode-line-breaks"],
)
async def test_a_hostile_title_stays_harmless_text_in_the_subject_and_adds_no_header(
    pool: asyncpg.Pool, unique: str, title: str, shown: str
) -> None:
    request_id, address = uuid4(), f"party-{unique}@example.sn"
    with smtp_server() as (sink, port):
        await apply(pool, request_accepted(request_id, address, title=title))
        async with delivery_deps(pool, ["party:SEN"], smtp_port=port) as deps:

            async def sent() -> bool:
                return bool(sink.to(address))

            await run_workers_until(deps, sent)
    [mail] = sink.to(address)
    assert sorted(mail.keys()) == OUR_HEADERS
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    text, html = _parts(mail)
    assert "Estimado/a" in text and str(request_id) in text
    assert "<h1>Pay" not in html  # the title is escaped in the HTML part we wrote
    assert str(mail["Subject"]) == f"STAX: su solicitud «{shown}» fue recibida"


async def test_a_very_long_title_is_cut_in_the_subject_but_whole_in_the_body(
    pool: asyncpg.Pool, unique: str
) -> None:
    request_id, address = uuid4(), f"party-{unique}@example.sn"
    title = "PCB " + "x" * 290
    with smtp_server() as (sink, port):
        await apply(pool, request_accepted(request_id, address, title=title))
        async with delivery_deps(pool, ["party:SEN"], smtp_port=port) as deps:

            async def sent() -> bool:
                return bool(sink.to(address))

            await run_workers_until(deps, sent)
    [mail] = sink.to(address)
    subject = str(mail["Subject"])
    assert len(subject) <= domain.MAX_HEADER_TEXT and subject.endswith("…")
    assert title in _parts(mail)[0]


async def test_a_recipient_address_that_would_be_decoded_into_another_is_refused_for_good(
    pool: asyncpg.Pool, unique: str
) -> None:
    # email-validator accepts it; the email package would write `To: evil@evil.example@…`.
    partner, address = f"p-{unique}", f"=?utf-8?q?evil=40evil.example?=-{unique}@example.org"
    with smtp_server() as (sink, port):
        await add_contact(pool, partner, address)
        await apply(pool, offer_event(partner)[1])
        async with delivery_deps(pool, [partner], smtp_port=port) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith("recipient refused: ") and sink.messages == []


def _has_cve_fix() -> bool:
    return hasattr(policy.default, "verify_generated_headers")


def test_a_header_that_would_start_a_new_line_is_a_message_error() -> None:
    # What Python 3.11.7 does with an encoded word (CVE-2024-6923); flatten refuses it as
    # Pythons with the fix do (HeaderWriteError), so the mailer fails it for good, with a reason.
    msg = EmailMessage()
    msg["Subject"] = "=?utf-8?q?Hi=0D=0AReply-To:_attacker@evil.example?="
    try:
        flatten(msg)
    except MessageError as exc:  # an unfixed Python folds the decoded CR LF into a new header
        assert "Subject header would start a new line" in str(exc)
    else:  # a fixed one (3.11.10+, Debian's deb12u5+) encodes it: no header can be smuggled
        assert sys.version_info >= (3, 11, 10) or _has_cve_fix()
        assert b"\r\nReply-To:" not in msg.as_bytes(policy=policy.SMTP)
    fine = EmailMessage()
    fine["Subject"] = domain.header_text("=?utf-8?q?Hi=0D=0AReply-To:_attacker@evil.example?=")
    fine["X-Long"] = "word " * 60  # folded over lines, each a continuation
    flatten(fine)
