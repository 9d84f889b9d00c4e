"""E-mail: which template renders, and headers that stay one harmless line."""

from __future__ import annotations

import unicodedata


def template_base(event_type: str, language: str, available: frozenset[str]) -> str:
    """Which `<name>.<lang>` template pair renders this e-mail: the event type's own in the
    contact's language, else in English, else the generic one (same fallback order)."""
    for name in (event_type, "_default"):
        for lang in (language, "en"):
            if f"{name}.{lang}.txt.j2" in available and f"{name}.{lang}.html.j2" in available:
                return f"{name}.{lang}"
    raise LookupError(f"no template for {event_type} (not even _default.en)")


def split_text_template(source: str) -> tuple[str, str]:
    """A text template's first line is the subject, the rest (after a blank line) the body.

    The source is split, not the rendered text: a line break in the data (a title) must not
    move text from the subject into the body or the other way round."""
    subject, _, body = source.strip().partition("\n")
    return subject.strip(), body.lstrip("\n")


# Longest text in a header we write: a subject stays readable, and no line nears RFC 5322's 998.
MAX_HEADER_TEXT = 200

# Never in a header: control characters (CR, LF, NUL, NEL, ESC…), the Unicode line and paragraph
# separators (str.splitlines() and some mail readers break lines on them) and lone surrogates
# (they cannot be encoded, so writing the message would fail).
_UNSAFE = frozenset({"Cc", "Zl", "Zp", "Cs"})


def _unsafe_char(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE


def header_text(value: str, limit: int = MAX_HEADER_TEXT) -> str:
    """`value` as one harmless header line: unsafe characters become spaces, runs of spaces one,
    encoded-word syntax is broken, and the length bounded (cut with an ellipsis)."""
    line = " ".join("".join(" " if _unsafe_char(ch) else ch for ch in value).split())
    # `=?` opens an RFC 2047 encoded word, which the email package decodes when the header is
    # set, after any check on the text: `=?utf-8?q?Hi=0D=0AReply-To:…?=` becomes a second
    # header on Python 3.11.7 (CVE-2024-6923). A space keeps the text readable and undecodable;
    # after the clean-up above, no replaced character can rebuild a `=?`.
    line = line.replace("=?", "= ?")
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def unsafe_address(address: str) -> str | None:
    """Why `address` may not be a recipient, or None. An address cannot be cleaned like text
    (that would be another mailbox), so one that could smuggle a header is refused."""
    if any(_unsafe_char(ch) or ch.isspace() for ch in address):
        return "it contains control or space characters"
    if "=?" in address:
        # email-validator accepts `=?…?=@example.org`, and the email package would decode it.
        return "it contains an RFC 2047 encoded word (=?), which mail software would decode"
    return None
