"""E-mail channel: Jinja2 templates (text + HTML) per event type and language, via aiosmtplib
on a few connections kept open (smtp_pool)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from email.errors import MessageError
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
from services.notifier.adapters.mail_bytes import COMPOSING, flatten, mime_boundary
from services.notifier.adapters.smtp_pool import IDLE_SECONDS, SmtpPool, needs_smtputf8
from services.notifier.domain import AttemptResult

# The templates are the service's data, beside its migrations.
TEMPLATES = Path(__file__).parent.parent / "templates"


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
        msg = EmailMessage(policy=COMPOSING)
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
