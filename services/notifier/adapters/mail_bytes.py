"""An e-mail's bytes, made once: the policy messages are composed with, the MIME boundary, and
the flattening DATA carries, checked on the bytes themselves for header injection."""

from __future__ import annotations

import io
import random
import re
import sys
from collections.abc import Callable, Sequence
from email import policy
from email.errors import MessageError
from email.generator import BytesGenerator
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage


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
COMPOSING = policy.default.clone(cte_type="7bit", header_factory=_HeaderClasses())


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
