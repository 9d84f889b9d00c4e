"""E-mail channel: Jinja2 templates (text + HTML) per event type and language, via aiosmtplib."""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)

from services.notifier import domain
from services.notifier.domain import AttemptResult

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    timeout: float
    username: str | None = None
    password: str | None = None
    start_tls: bool | None = None  # None: STARTTLS when the server offers it


@dataclass(frozen=True)
class Rendered:
    language: str  # the one used: the contact's, or English when it has no template
    subject: str
    text: str
    html: str


class Templates:
    def __init__(self, folder: Path = TEMPLATES) -> None:
        # "html.j2" must be listed: select_autoescape(["html"]) does not match `*.html.j2`,
        # and partner-supplied text (reasons, titles) must be escaped in the HTML part.
        self._env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(["html", "html.j2", "xml"]),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self._available = frozenset(self._env.list_templates())

    def render(self, event_type: str, language: str, body: dict[str, Any]) -> Rendered:
        base = domain.template_base(event_type, language, self._available)
        context = {"type": body["type"], "timestamp": body["timestamp"], "data": body["data"]}
        subject, text = domain.split_subject(
            self._env.get_template(f"{base}.txt.j2").render(context)
        )
        html = self._env.get_template(f"{base}.html.j2").render(context | {"subject": subject})
        return Rendered(base.rsplit(".", 1)[1], subject, text, html)


class Mailer:
    def __init__(self, config: SmtpConfig, templates: Templates) -> None:
        self._config = config
        self._templates = templates

    def compose(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> EmailMessage:
        rendered = self._templates.render(event_type, language, json.loads(body))
        msg = EmailMessage()
        msg["From"] = self._config.sender
        msg["To"] = to
        msg["Subject"] = rendered.subject
        # The delivery id in the Message-ID lets bounces and duplicates be traced to the row.
        msg["Message-ID"] = make_msgid(idstring=delivery_id, domain="stax.invalid")
        msg["X-STAX-Delivery-Id"] = delivery_id
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        msg["Content-Language"] = rendered.language  # after set_content, which drops Content-*
        return msg

    async def send(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> AttemptResult:
        try:
            msg = self.compose(
                to=to, language=language, event_type=event_type, body=body, delivery_id=delivery_id
            )
        except (TemplateError, LookupError, ValueError) as exc:
            # Retrying cannot fix a template or a payload it does not fit: fail it, keep it.
            return AttemptResult(ok=False, error=f"template: {exc}"[:500], permanent=True)
        cfg = self._config
        try:
            await aiosmtplib.send(
                msg,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username,
                password=cfg.password,
                start_tls=cfg.start_tls,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            worst = max(exc.recipients, key=lambda r: r.code)
            return domain.classify_smtp(worst.code, worst.message)
        except aiosmtplib.SMTPResponseException as exc:
            return domain.classify_smtp(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError) as exc:  # connection refused, timeouts
            return AttemptResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        return AttemptResult(ok=True)
