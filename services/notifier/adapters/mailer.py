"""E-mail channel: Jinja2 templates (text + HTML) per event type and language, via aiosmtplib
on a few connections kept open (smtp_pool)."""

from __future__ import annotations

import io
import json
import random
import re
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    select_autoescape,
)

from services.notifier import domain
from services.notifier.adapters.answer_links import ANSWERABLE, SIGN_IN, LinkMaker
from services.notifier.adapters.smtp_pool import IDLE_SECONDS, SmtpPool, needs_smtputf8
from services.notifier.domain import AttemptResult

# The templates are the service's data, beside its migrations.
TEMPLATES = Path(__file__).parent.parent / "templates"


class _HeaderClasses(HeaderRegistry):
    """The email package's header classes, each made once: HeaderRegistry makes a new class
    (`type(…)`) for every header set, some 30 a message, a fifth of the time it takes to
    compose and flatten one. The classes, and so the headers, are the same."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        made = self._made.get(name.lower())
        if made is None:
            made = self._made[name.lower()] = super().__getitem__(name)
        return made


# The default policy, except that no text part is written as raw 8-bit: a non-ASCII one is
# quoted-printable or base64. A message is flattened once, before a connection is chosen, so
# its bytes must suit a server without 8BITMIME too (aiosmtplib's send_message flattened it
# for each server, and re-encoded 8-bit parts for such a one).
_COMPOSING = policy.default.clone(cte_type="7bit", header_factory=_HeaderClasses())


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    timeout: float
    username: str | None = None
    password: str | None = None
    start_tls: bool | None = None  # None: STARTTLS when the server offers it
    # The name given in EHLO. None: this machine's, looked up once when the Mailer is made
    # (aiosmtplib would look it up for every connection, in a thread, possibly over DNS).
    local_hostname: str | None = None
    connections: int = 4  # open at most, each carrying one message at a time


@dataclass(frozen=True)
class Rendered:
    language: str  # the one used: the contact's, or English when it has no template
    subject: str
    text: str
    html: str


class NoSignInLink(ValueError):  # noqa: N818 - named for what is missing, like BadLink
    """A sign-in e-mail without its link would only puzzle its reader: not sent at all."""


class Templates:
    def __init__(self, folder: Path = TEMPLATES, links: LinkMaker | None = None) -> None:
        # None: offer e-mails carry no Accept / Decline links, sign-in e-mails are refused.
        self._links = links
        # "html.j2" must be listed: select_autoescape(["html"]) does not match `*.html.j2`,
        # and partner-supplied text (reasons, titles) must be escaped in the HTML part. The
        # text parts are compiled from strings (see _split): plain text, never escaped.
        self._loader = FileSystemLoader(folder)
        self._env = Environment(
            loader=self._loader,
            autoescape=select_autoescape(["html", "html.j2", "xml"], default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._available = frozenset(self._env.list_templates())
        self._text = {n: self._split(n) for n in self._available if n.endswith(".txt.j2")}

    def _split(self, name: str) -> tuple[Template, Template]:
        source, _, _ = self._loader.get_source(self._env, name)
        subject, body = domain.split_text_template(source)
        return self._env.from_string(subject), self._env.from_string(body)

    def render(self, event_type: str, language: str, body: dict[str, Any]) -> Rendered:
        base = domain.template_base(event_type, language, self._available)
        context = {
            "type": body["type"],
            "timestamp": body["timestamp"],
            "data": body["data"],
            "links": self._links_for(event_type, body["data"]),
        }
        subject_template, text_template = self._text[f"{base}.txt.j2"]
        subject = domain.header_text(subject_template.render(context))
        text = text_template.render(context)
        html = self._env.get_template(f"{base}.html.j2").render(context | {"subject": subject})
        return Rendered(base.rsplit(".", 1)[1], subject, text, html)

    def _links_for(self, event_type: str, data: dict[str, Any]) -> dict[str, str] | None:
        if event_type == SIGN_IN:
            if self._links is None:
                # A ValueError: the delivery fails at once, permanently, with this reason for
                # operators (Mailer._build). intake offers sign-in by e-mail only with the
                # secret, so this is a deployment where notifier was not given it.
                raise NoSignInLink("no sign-in link without STAX_ANSWER_LINK_SECRET: not sent")
            return {"sign_in": self._links.sign_in(data)}
        if self._links is None or event_type != ANSWERABLE:
            return None
        return self._links.links(data)


class UnsafeHeaderError(MessageError):
    """A header would not be written as one header: a line of it would start another header,
    or end the header section."""


# A header's first line: its field name (printable ASCII but the colon, RFC 5322 §2.2) and a
# colon. Any other line of the header section must be a continuation: a space or a tab first.
_FIELD_NAME = re.compile(rb"([!-9;-~]+):")


def mime_boundary(*texts: str, pick: Callable[[int], int] = random.randrange) -> str:
    """A multipart boundary found in none of `texts`, as the email package's generator makes
    one, which compiles a regular expression for each to look for it in the message written (a
    tenth of the time it takes to compose and flatten one). Looking in the texts is enough:
    encoded (quoted-printable, base64), they can hold its run of 15 "=" only if they hold it."""
    while True:
        boundary = f"{'=' * 15}{pick(sys.maxsize):019d}=="
        if not any(boundary in text for text in texts):
            return boundary


def flatten(msg: EmailMessage, *, utf8: bool = False) -> bytes:
    """`msg` as DATA carries it: flattened as aiosmtplib's flatten_message does for a server
    with 8BITMIME (SMTPUTF8 when `utf8`), then checked (check_headers)."""
    with io.BytesIO() as out:
        BytesGenerator(out, policy=policy.SMTPUTF8 if utf8 else policy.SMTP).flatten(msg)
        data = out.getvalue()
    check_headers(data, msg)
    return data


def check_headers(data: bytes, msg: EmailMessage) -> None:
    """Raises UnsafeHeaderError unless the header section of `data`, `msg` flattened (up to its
    first empty line), is `msg`'s headers, in order, each one line and its continuations, and
    what follows it is the start of `msg`'s body.

    The check is on the bytes sent: a header value that folds into a line of its own would add
    a header (header injection: CPython before 3.11.10 can write one, CVE-2024-6923, and 3.11.7
    lacks its HeaderWriteError), and one with an empty line would end the headers early."""
    section, _, rest = data.partition(b"\r\n\r\n")
    last = _one_line_each(section, msg.keys())
    if not rest.startswith(_body_start(msg)):
        raise UnsafeHeaderError(f"the {last} header would end the headers: {rest[:100]!r}")


def _one_line_each(section: bytes, names: Sequence[str]) -> str | None:
    """The last of `names`, once each line of `section` is one of them, in order, or one of
    its continuations; else raises UnsafeHeaderError."""
    expected = iter(names)
    header: str | None = None
    for line in section.split(b"\r\n"):
        if header is None or not line.startswith((b" ", b"\t")):
            name, want = _FIELD_NAME.match(line), next(expected, None)
            if name is None or want is None or name[1].decode().lower() != want.lower():
                raise _new_line(header, line)
            header = want
        if b"\r" in line or b"\n" in line:  # a lone CR or LF: some software ends the line there
            raise _new_line(header, line)
    if next(expected, None) is not None:
        raise UnsafeHeaderError(f"the {header} header would end the headers early")
    return header


def _body_start(msg: EmailMessage) -> bytes:
    # Without a preamble, a multipart body starts with its first boundary line (the generator
    # has set the boundary, if it was not). A single part's body could start with anything.
    boundary = msg.get_boundary()
    return b"" if boundary is None or msg.preamble is not None else f"--{boundary}\r\n".encode()


def _new_line(header: str | None, line: bytes) -> UnsafeHeaderError:
    where = "the header section" if header is None else f"the {header} header"
    return UnsafeHeaderError(f"{where} would start a new line: {line[:100]!r}")


class Mailer:
    def __init__(
        self, config: SmtpConfig, templates: Templates, *, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self._config = config
        self._templates = templates
        self._hostname = config.local_hostname or socket.getfqdn()
        self._pool = SmtpPool(
            self._connect,
            size=config.connections,
            timeout=config.timeout,
            idle_seconds=idle_seconds,
        )

    async def aclose(self) -> None:
        """QUIT on the connections kept open; for when the service stops."""
        await self._pool.aclose()

    def compose(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> EmailMessage:
        """The message; raises on a template or payload that does not fit. Its headers are
        checked when it is flattened (`flatten`)."""
        rendered = self._templates.render(event_type, language, json.loads(body))
        msg = EmailMessage(policy=_COMPOSING)
        msg["From"] = self._config.sender
        msg["To"] = to  # refused by _build first if domain.unsafe_address objects
        # Every other header is sanitised text, whatever produced it (see domain.header_text).
        msg["Subject"] = domain.header_text(rendered.subject)
        # The delivery id in the Message-ID lets bounces and duplicates be traced to the row.
        msg["Message-ID"] = make_msgid(
            idstring=domain.header_text(delivery_id), domain="stax.invalid"
        )
        msg["X-STAX-Delivery-Id"] = domain.header_text(delivery_id)
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        msg.set_boundary(mime_boundary(rendered.text, rendered.html))
        # After set_content, which drops Content-* headers.
        msg["Content-Language"] = domain.header_text(rendered.language)
        return msg

    async def send(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> AttemptResult:
        built = self._build(
            to=to, language=language, event_type=event_type, body=body, delivery_id=delivery_id
        )
        if isinstance(built, AttemptResult):
            return built
        return await self._transmit(built, to)

    def _build(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> bytes | AttemptResult:
        """The message's bytes, made once, or why it can never be sent: retrying cannot fix
        any of these, so they are permanent failures, kept for operators."""
        why = domain.unsafe_address(to)
        if why is not None:
            return AttemptResult(ok=False, error=f"recipient refused: {why}", permanent=True)
        try:
            msg = self.compose(
                to=to, language=language, event_type=event_type, body=body, delivery_id=delivery_id
            )
            return flatten(msg, utf8=needs_smtputf8(self._config.sender, to))
        except MessageError as exc:  # UnsafeHeaderError, or HeaderWriteError (CPython 3.11.10+)
            return _unwritable(exc)
        except (TemplateError, LookupError, ValueError) as exc:
            return AttemptResult(ok=False, error=f"template: {exc}"[:500], permanent=True)

    async def _transmit(self, data: bytes, to: str) -> AttemptResult:
        try:
            # Sender and recipient given explicitly: the envelope never comes from headers.
            await self._pool.send(data, sender=self._config.sender, recipient=to)
        except aiosmtplib.SMTPResponseException as exc:  # the recipient, sender or message refused
            return domain.classify_smtp(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:  # connection refused, timeouts
            return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return AttemptResult(ok=True)

    async def _connect(self) -> aiosmtplib.SMTP:
        cfg = self._config
        conn = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username,
            password=cfg.password,
            start_tls=cfg.start_tls,
            timeout=cfg.timeout,
            local_hostname=self._hostname,
        )
        await conn.connect()
        return conn


def _unwritable(exc: MessageError) -> AttemptResult:
    return AttemptResult(
        ok=False, error=f"message: {type(exc).__name__}: {exc}"[:500], permanent=True
    )
