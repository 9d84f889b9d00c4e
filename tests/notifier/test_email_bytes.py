"""Each e-mail's bytes are made once: the message flattened as aiosmtplib would flatten it, its
header section checked line by line, and those bytes, unchanged, are what DATA carries."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from uuid import uuid4

import pytest
from aiosmtplib.email import flatten_message

from services.notifier import domain
from services.notifier.adapters.mail_bytes import (
    UnsafeHeaderError,
    check_headers,
    flatten,
    mime_boundary,
)
from services.notifier.adapters.mailer import Mailer, SmtpConfig, Templates
from services.notifier.domain import AttemptResult
from shared.events import AssignmentOffered
from tests.notifier.helpers import WRITTEN_HEADERS, counting_server, offer_event, plain_pool

SENDER = "stax@test.invalid"
HEADERS = WRITTEN_HEADERS


def _mailer(port: int = 9) -> Mailer:
    return Mailer(SmtpConfig("127.0.0.1", port, SENDER, 5.0, local_hostname="t"), Templates())


def _offer(partner_name: str = "Centre régional de Genève") -> str:
    """An offer's stored body; the partner's name is in the subject."""
    _, offer = offer_event(f"p-{uuid4().hex[:8]}")
    data = offer.model_dump(mode="json") | {"partner_name": partner_name}
    return domain.webhook_body(AssignmentOffered.ce_type, datetime.now(UTC), data)


def _compose(mailer: Mailer, to: str, body: str, language: str = "fr") -> EmailMessage:
    return mailer.compose(
        to=to,
        language=language,
        event_type=AssignmentOffered.ce_type,
        body=body,
        delivery_id="d-1",
    )


def _ending(data: bytes, name: str, extra: bytes) -> bytes:
    """`data` with `extra` written at the end of header `name` (after its continuations)."""
    found = re.search(rb"(^|\r\n)" + name.encode() + rb":[^\r\n]*(\r\n[ \t][^\r\n]*)*", data)
    assert found is not None
    return data[: found.end()] + extra + data[found.end() :]


@pytest.mark.parametrize("name", HEADERS)
@pytest.mark.parametrize(
    "extra",
    [
        b"\r\nReply-To: attacker@evil.example",
        b"\r\nX-Again: a header of its own",
        b"\r\n\r\n<h1>Pay here</h1>",
        b"\nBcc: hidden@evil.example",
        b"\rBcc: hidden@evil.example",
    ],
    ids=["new-header", "unknown-header", "empty-line", "lone-lf", "lone-cr"],
)
def test_a_line_that_a_header_would_start_is_refused_whichever_header_it_ends(
    name: str, extra: bytes
) -> None:
    msg = _compose(_mailer(), "desk@example.org", _offer())
    data = flatten(msg)
    assert msg.keys() == HEADERS
    with pytest.raises(UnsafeHeaderError, match=f"the {name} header would "):
        check_headers(_ending(data, name, extra), msg)


@pytest.mark.parametrize("name", HEADERS)
def test_a_header_we_write_written_twice_is_refused(name: str) -> None:
    # Named like one of ours, so only the count tells it from ours (To after From, say).
    msg = _compose(_mailer(), "desk@example.org", _offer())
    for again in HEADERS:
        tampered = _ending(flatten(msg), name, f"\r\n{again}: other@evil.example".encode())
        with pytest.raises(UnsafeHeaderError):
            check_headers(tampered, msg)


def test_an_empty_line_in_a_header_of_a_single_part_is_refused() -> None:
    # Its body could start with anything: the headers it should have had tell.
    msg = EmailMessage()
    msg["Subject"], msg["X-Other"] = "Hi", "there"
    msg.set_content("Hello")
    tampered = _ending(flatten(msg), "Subject", b"\r\n\r\nPay here")
    with pytest.raises(UnsafeHeaderError, match="the Subject header would end the headers"):
        check_headers(tampered, msg)


def test_a_header_folded_over_lines_passes_the_check() -> None:
    msg = _compose(_mailer(), "desk@example.org", _offer())
    data = flatten(msg)
    assert b"\r\n boundary=" in data  # the Content-Type header's continuation line
    check_headers(data, msg)


def test_the_bytes_are_what_aiosmtplib_would_send_to_any_server_and_carry_no_raw_8bit() -> None:
    # In Spanish the offer's text part has accented letters and, with a short partner name,
    # short lines: by default the email package writes it as raw 8-bit, which a server
    # without 8BITMIME cannot take.
    body = _offer("Genève")
    msg = _compose(_mailer(), "desk@example.org", body, language="es")
    data = flatten(msg)
    assert data.isascii()
    assert data == flatten_message(msg) == flatten_message(msg, cte_type="7bit")
    rendered = Templates().render(AssignmentOffered.ce_type, "es", json.loads(body))
    sent = message_from_bytes(data, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    text = sent.get_body(("plain",))
    assert text is not None and text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content().replace("\r\n", "\n") == rendered.text


async def test_data_carries_the_bytes_given_to_the_pool_unchanged(unique: str) -> None:
    msg = _compose(_mailer(), f"desk-{unique}@example.org", _offer())
    # With a line that starts with a dot, which SMTP escapes and the server unescapes.
    data = flatten(msg) + b".an epilogue line\r\n"
    with counting_server() as (sink, port):
        pool = plain_pool(port)
        await pool.send(data, sender=SENDER, recipient=f"desk-{unique}@example.org")
        await pool.aclose()
    assert sink.raw == [data]


async def test_the_mailer_sends_the_message_flattened_once_as_it_composes_it(unique: str) -> None:
    address, body = f"once-{unique}@example.org", _offer()
    with counting_server() as (sink, port):
        mailer = _mailer(port)
        result = await mailer.send(
            to=address,
            language="fr",
            event_type=AssignmentOffered.ce_type,
            body=body,
            delivery_id="d-1",
        )
        await mailer.aclose()
    assert result == AttemptResult(ok=True)
    [sent] = sink.raw
    again = flatten(_compose(mailer, address, body))
    # The same message but for what is new each time it is composed and flattened.
    assert _steady(sent) == _steady(again)
    # An ASCII envelope: the subject's accented letters are in an encoded word, not raw UTF-8.
    assert sent.isascii() and b"=?utf-8?" in sent.partition(b"\r\n\r\n")[0]


def _steady(data: bytes) -> bytes:
    data = re.sub(rb"Message-ID: <[^>]+>", b"Message-ID: <id>", data)
    return re.sub(rb"={15}\d+==", b"=boundary=", data)


async def test_a_non_ascii_recipient_gets_utf8_headers_over_smtputf8(unique: str) -> None:
    address = f"josé-{unique}@example.org"
    with counting_server(enable_SMTPUTF8=True) as (sink, port):
        mailer = _mailer(port)
        result = await mailer.send(
            to=address,
            language="fr",
            event_type=AssignmentOffered.ce_type,
            body=_offer(),
            delivery_id="d-1",
        )
        await mailer.aclose()
    assert result == AttemptResult(ok=True)
    [sent] = sink.raw
    assert f"\r\nTo: {address}\r\n".encode() in sent  # as it is, not an encoded word
    assert sink.envelopes == [(SENDER, [address])]


def test_each_header_composed_is_of_the_class_the_email_package_would_make_for_it() -> None:
    # The mailer makes each header class once (HeaderRegistry makes one per header set).
    msg = _compose(_mailer(), "desk@example.org", _offer())
    for part in [msg, *msg.iter_parts()]:
        for name, value in part.items():
            made = policy.default.header_factory(name, str(value))
            assert type(value).__bases__ == type(made).__bases__, name
            assert value == made and value.defects == made.defects == ()


def test_a_boundary_that_a_text_holds_is_never_used() -> None:
    picks = iter([7, 7, 8])
    text = f"a line with ==============={7:019d}== in it"
    boundary = mime_boundary("<p>html</p>", text, pick=lambda _: next(picks))
    assert boundary == f"==============={8:019d}=="
