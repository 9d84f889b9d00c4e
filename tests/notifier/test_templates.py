"""The lifecycle's e-mails rendered from the real templates (no SMTP): each in English, French and
Spanish, text and HTML, with the event's fields, and with untrusted text escaped in the HTML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from services.notifier import domain
from services.notifier.adapters.mailer import Rendered, Templates
from shared.events import (
    AssignmentCompleted,
    AssignmentStarted,
    AssignmentWithdrawn,
    Event,
    RequestClosed,
    RequestCompleted,
    RequestWaiting,
)

TEMPLATES = Templates()
REQUEST = uuid4()

EVENTS: list[Event] = [
    AssignmentStarted(
        assignment_id=uuid4(), request_id=REQUEST, partner_id="unido", reason="Kick-off 3 March"
    ),
    AssignmentCompleted(
        assignment_id=uuid4(),
        request_id=REQUEST,
        partner_id="unido",
        outcome="PCB inventory finished; 12 officers trained",
        deliverables=["https://docs.example.org/pcb-report.pdf"],
    ),
    AssignmentWithdrawn(
        assignment_id=uuid4(), request_id=REQUEST, partner_id="unido", reason="Staff shortage"
    ),
    RequestWaiting(
        request_id=REQUEST,
        partners=["unido", "brs-sen"],
        topics=["PCB"],
        reason="2 capable partners, all at capacity",
    ),
    RequestCompleted(request_id=REQUEST, partners=["unido", "brs-sen"]),
    RequestClosed(request_id=REQUEST, closed_by="submitter", rating=4, comment="Most useful"),
]

# What each event's mail must show, whatever the language: its own fields.
FIELDS: dict[str, list[str]] = {
    "ta.assignment.started": ["unido", "Kick-off 3 March"],
    "ta.assignment.completed": [
        "unido",
        "PCB inventory finished; 12 officers trained",
        "https://docs.example.org/pcb-report.pdf",
    ],
    "ta.assignment.withdrawn": ["unido", "Staff shortage"],
    "ta.request.waiting": ["2 capable partners, all at capacity", "PCB", "unido, brs-sen"],
    "ta.request.completed": ["unido, brs-sen"],
    "ta.request.closed": ["4/5", "Most useful"],
}

# A phrase of each language's subject, so that a fallback to English cannot pass for French.
SUBJECTS: dict[tuple[str, str], str] = {
    ("ta.assignment.started", "en"): "work has started",
    ("ta.assignment.started", "fr"): "les travaux ont commencé",
    ("ta.assignment.started", "es"): "comenzó el trabajo",
    ("ta.assignment.completed", "en"): "completed its work",
    ("ta.assignment.completed", "fr"): "a terminé ses travaux",
    ("ta.assignment.completed", "es"): "terminó su trabajo",
    ("ta.assignment.withdrawn", "en"): "withdrew from request",
    ("ta.assignment.withdrawn", "fr"): "s'est retiré de la demande",
    ("ta.assignment.withdrawn", "es"): "se retiró de la solicitud",
    ("ta.request.waiting", "en"): "is waiting for a partner",
    ("ta.request.waiting", "fr"): "attend un partenaire",
    ("ta.request.waiting", "es"): "espera un socio",
    ("ta.request.completed", "en"): "is complete",
    ("ta.request.completed", "fr"): "sont terminés",
    ("ta.request.completed", "es"): "ha concluido",
    ("ta.request.closed", "en"): "is closed",
    ("ta.request.closed", "fr"): "est clôturée",
    ("ta.request.closed", "es"): "está cerrada",
}


def _render(event: Event, language: str, *, exclude_defaults: bool = False) -> Rendered:
    """As the mailer does: from the stored webhook body of the event's data."""
    data = event.model_dump(mode="json", exclude_defaults=exclude_defaults)
    body = domain.webhook_body(event.ce_type, datetime.now(UTC), domain.minimised(data))
    return TEMPLATES.render(event.ce_type, language, json.loads(body))


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.ce_type)
def test_each_lifecycle_mail_has_its_own_template_and_fields_in_each_language(
    event: Event, language: str
) -> None:
    mail = _render(event, language)
    assert mail.language == language
    assert SUBJECTS[event.ce_type, language] in mail.subject
    assert str(REQUEST) in mail.subject
    assert f'<html lang="{language}">' in mail.html
    for shown in [str(REQUEST), *FIELDS[event.ce_type]]:
        assert shown in mail.text and shown in mail.html


# Only the fields without a default: a producer may omit the others (reason, outcome,
# deliverables, rating, comment), and the strict templates must not fail a delivery for it.
BARE: list[Event] = [
    AssignmentStarted(assignment_id=uuid4(), request_id=REQUEST, partner_id="unido"),
    AssignmentCompleted(assignment_id=uuid4(), request_id=REQUEST, partner_id="unido"),
    AssignmentWithdrawn(assignment_id=uuid4(), request_id=REQUEST, partner_id="unido"),
    RequestClosed(request_id=REQUEST, closed_by="operator"),
]


@pytest.mark.parametrize("language", ["en", "fr", "es"])
@pytest.mark.parametrize("event", BARE, ids=lambda e: e.ce_type)
def test_a_lifecycle_mail_renders_when_the_optional_fields_are_left_out(
    event: Event, language: str
) -> None:
    mail = _render(event, language, exclude_defaults=True)
    assert mail.language == language
    assert str(REQUEST) in mail.text and str(REQUEST) in mail.html


@pytest.mark.parametrize(
    ("closed", "said"),
    [
        (RequestClosed(request_id=REQUEST, closed_by="operator"), "closed by an operator"),
        (RequestClosed(request_id=REQUEST, closed_by="submitter"), "closed by its submitter"),
    ],
)
def test_a_closed_request_says_who_closed_it_and_that_no_rating_was_given(
    closed: RequestClosed, said: str
) -> None:
    mail = _render(closed, "en")
    assert said in mail.text and "Rating: none" in mail.text
    assert "Comment" not in mail.text


def test_the_submitters_comment_is_escaped_in_the_html_mail() -> None:
    comment = 'Thanks <script>alert("x")</script> & <b>bye</b>'
    closed = RequestClosed(request_id=REQUEST, closed_by="submitter", rating=5, comment=comment)
    for language in ("en", "fr", "es"):
        mail = _render(closed, language)
        assert "<script>" not in mail.html and "<b>" not in mail.html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in mail.html
        assert comment in mail.text  # plain text is never escaped


def test_a_deliverable_link_cannot_leave_its_href_in_the_html_mail() -> None:
    # The event allows only http(s) URLs without spaces; quotes and angle brackets remain.
    url = 'https://docs.example.org/r?a=1&b="x"><script>alert(1)</script>'
    completed = AssignmentCompleted(
        assignment_id=uuid4(), request_id=REQUEST, partner_id="unido", deliverables=[url]
    )
    mail = _render(completed, "en")
    escaped = (
        "https://docs.example.org/r?a=1&amp;b=&#34;x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    )
    assert f'<a href="{escaped}">{escaped}</a>' in mail.html
    assert "<script>" not in mail.html
    assert f"- {url}" in mail.text
