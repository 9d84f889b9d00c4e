"""A bounded pool of open SMTP connections: connect, STARTTLS and AUTH once, then one message
after another on the same connection, and never two messages at once on one connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import aiosmtplib

# How long a connection may wait unused before it is closed rather than used. Servers drop idle
# clients: RFC 5321 §4.5.3.2 lets them do it after 5 minutes, and many do it much sooner
# (Postfix, for example, after 10 s when it is under load). A connection the server dropped is
# replaced (see SmtpPool._started), but that costs a round trip, so do not keep it for long.
IDLE_SECONDS = 30.0
# How long each QUIT may take when the service stops. A stop must fit in the launcher's 20 s and
# Kubernetes' 30 s grace period, after HTTP draining and Kafka (shared/runtime.py). A server that
# takes longer to answer gets its connection closed without the answer.
QUIT_SECONDS = 2.0

Connect = Callable[[], Awaitable[aiosmtplib.SMTP]]


class NoConnectionFreeError(TimeoutError):
    """Every connection stayed busy for as long as a sender may wait. Nothing was sent."""


@dataclass(frozen=True)
class _Idle:
    conn: aiosmtplib.SMTP
    expiry: asyncio.TimerHandle  # closes it after IDLE_SECONDS, cancelled when it is used


class SmtpPool:
    def __init__(
        self, connect: Connect, *, size: int, timeout: float, idle_seconds: float = IDLE_SECONDS
    ) -> None:
        self._connect = connect
        # One slot per connection: a sender holds one from its first command to its last, so
        # each connection carries one message at a time and at most `size` are open at once.
        self._slots = asyncio.Semaphore(size)
        self._size = size
        self._timeout = timeout
        self._idle_seconds = idle_seconds
        self._idle: list[_Idle] = []
        self._closed = False

    async def send(self, data: bytes, *, sender: str, recipient: str) -> None:
        """Sends `data`, a message already flattened for SMTP (CR LF line ends; 7-bit, or with
        UTF-8 headers when `needs_smtputf8`), to `recipient` only, whatever its headers say, as
        it is: DATA carries these bytes. Raises what aiosmtplib raises (a refused recipient is
        an SMTPRecipientRefused), or NoConnectionFreeError."""
        async with self._slot():
            conn = await self._started(len(data), sender, recipient)
            # From here on the server may have the message, whatever happens next: a failure
            # is never retried here (it would be sent twice); the delivery schedule retries it.
            with _closed_on_failure(conn):
                await conn.data(data)
            self._keep(conn)

    async def aclose(self) -> None:
        """QUIT on every idle connection. One in use is closed when its message is done; sends
        after this one still work, each on a connection of its own."""
        self._closed = True
        idle, self._idle = self._idle, []
        for entry in idle:
            entry.expiry.cancel()
        within = min(self._timeout, QUIT_SECONDS)
        await asyncio.gather(*(_quit(entry.conn, within) for entry in idle))

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        # Bounded: the time spent waiting here counts against the delivery's lease, which
        # another worker takes (and sends again) once it runs out.
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            busy = f"no SMTP connection free within {self._timeout:g} s ({self._size} in use)"
            raise NoConnectionFreeError(busy) from None
        try:
            yield
        finally:
            self._slots.release()

    async def _started(self, size: int, sender: str, recipient: str) -> aiosmtplib.SMTP:
        """A connection on which the server accepted MAIL and RCPT for a message of `size`
        bytes."""
        idle = self._take_idle()
        if idle is not None:
            try:
                await _envelope_on(idle, size, sender, recipient)
                return idle
            except (ConnectionError, aiosmtplib.SMTPResponseException) as exc:
                if not _closed_by_server(exc):
                    raise
                # The server dropped it while it waited here, and DATA was not even asked
                # for: nothing was sent, so the message may go once more, on a fresh connection.
        conn = await self._connect()
        await _envelope_on(conn, size, sender, recipient)
        return conn

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            # The most recently used first: when traffic falls, the others age out.
            entry = self._idle.pop()
            entry.expiry.cancel()
            if entry.conn.is_connected:
                return entry.conn
            entry.conn.close()  # the server closed it and aiosmtplib noticed
        return None

    def _keep(self, conn: aiosmtplib.SMTP) -> None:
        if self._closed or not conn.is_connected:
            conn.close()
            return
        expiry = asyncio.get_running_loop().call_later(self._idle_seconds, self._expire, conn)
        self._idle.append(_Idle(conn, expiry))

    def _expire(self, conn: aiosmtplib.SMTP) -> None:
        # A plain close, no QUIT: that would need a task of its own, and the server treats a
        # client that goes away like one it drops itself.
        self._idle = [entry for entry in self._idle if entry.conn is not conn]
        conn.close()


def _closed_by_server(exc: ConnectionError | aiosmtplib.SMTPResponseException) -> bool:
    """Whether a command on a reused connection failed because the server had closed it: the
    connection was gone, or the server said it is closing it (421, RFC 5321 §3.8). Not a
    timeout: it may be a server that is just slow, and a second try would take the lease's
    time twice."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == 421
    return not isinstance(exc, TimeoutError)


@contextlib.contextmanager
def _closed_on_failure(conn: aiosmtplib.SMTP) -> Iterator[None]:
    """Closes `conn` if the block fails in any way (an error, a refusal, a cancellation): its
    state is then unknown, and it is never used again."""
    try:
        yield
    except BaseException:
        conn.close()
        raise


def needs_smtputf8(sender: str, recipient: str) -> bool:
    """Whether the envelope needs SMTPUTF8, and so the message may have UTF-8 headers: as
    aiosmtplib's send_message decides it."""
    return not (sender + recipient).isascii()


async def _envelope_on(conn: aiosmtplib.SMTP, size: int, sender: str, recipient: str) -> None:
    """MAIL and RCPT for `recipient`, as aiosmtplib's sendmail does them (driven here so that
    the pool knows DATA was not reached)."""
    with _closed_on_failure(conn):
        await _greeted(conn)
        utf8 = needs_smtputf8(sender, recipient)
        options = _mail_options(conn, utf8=utf8)
        if conn.supports_extension("size"):
            options.insert(0, f"size={size}")
        encoding = "utf-8" if utf8 else "ascii"
        await conn.mail(sender, options=options, encoding=encoding)
        await conn.rcpt(recipient, encoding=encoding)


async def _greeted(conn: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO for a server that refuses it, unless this connection has greeted already
    (connect does when it looks for STARTTLS): MAIL's parameters depend on the answer."""
    if not conn.is_ehlo_or_helo_needed:
        return
    try:
        await conn.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not conn.is_connected:
            raise
        await conn.helo()


def _mail_options(conn: aiosmtplib.SMTP, *, utf8: bool) -> list[str]:
    options = []
    if utf8:
        if not conn.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "An address contains non-ASCII characters, but the server lacks SMTPUTF8"
            )
        options.append("SMTPUTF8")
    if conn.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    return options


async def _quit(conn: aiosmtplib.SMTP, within: float) -> None:
    try:
        # Already gone, refused or too slow: it is closed all the same.
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await conn.quit(timeout=within)
    finally:
        conn.close()
