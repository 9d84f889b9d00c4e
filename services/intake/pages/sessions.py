"""Who is signed in to the portal or the console: an encrypted, timed session cookie, and the
CSRF token every form after sign-in carries.

The cookie holds the API key the person signed in with, encrypted (Fernet: AES-CBC + HMAC), so
that the console can call matcher's and notifier's own APIs *as that operator*: intake gains no
power of its own over their data, and a revoked key ends every session made with it (each page
checks the key again, through the authenticator's short cache). Encrypted rather than only
signed, because cookies end up in places keys must not (proxies' logs, browser profiles).
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.requests import Request
from starlette.responses import Response

from shared.auth import Principal

Area = Literal["portal", "console"]
ROLE_OF: dict[Area, str] = {"portal": "partner", "console": "operator"}
COOKIE = "stax_session"
MAX_AGE_SECONDS = 8 * 3600  # one working day; then sign in again
MAX_COOKIE = 2048  # what encode makes is about 400 characters: anything longer is not ours
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"  # htmx requests send it (hx-headers on <body>)
MAX_CSRF = 64
# shared.auth.Authenticator: a key to its principal, or None (unknown, revoked, malformed).
Authenticate = Callable[[str], Awaitable[Principal | None]]


@dataclass(frozen=True)
class Session:
    """A signed-in person: the key they signed in with (None when they came by an e-mailed
    link), whom it names, and their CSRF token."""

    key: str | None
    principal: Principal
    csrf: str

    @property
    def operator_key(self) -> str:
        assert self.key is not None, "console sessions are opened by an operator key only"
        return self.key


class Sessions:
    """Makes, reads and ends session cookies; `secret` empty means sign-in is off."""

    def __init__(
        self, secret: str, authenticator: Authenticate | None = None, *, https: bool = False
    ) -> None:
        self.enabled = bool(secret)
        # Behind a TLS-terminating proxy the request itself says http: the public URL decides.
        self._https = https
        self._fernet = Fernet(_derive(secret)) if secret else None
        self._authenticator = authenticator

    def bind(self, authenticator: Authenticate) -> None:
        """The authenticator exists once the database pool does (app.py's lifespan)."""
        self._authenticator = authenticator

    async def principal_of(self, key: str) -> Principal | None:
        if self._authenticator is None or len(key) > 200:
            return None
        return await self._authenticator(key)

    def start(self, response: Response, request: Request, key: str) -> None:
        """Sets the cookie of a new session for `key` (already checked by the caller)."""
        self._set(response, request, {"k": key})

    def start_by_link(self, response: Response, request: Request, partner_id: str) -> None:
        """Sets the cookie of a partner's session opened by an e-mailed sign-in link (already
        verified and marked used by the caller): it names the partner, and holds no key."""
        self._set(response, request, {"p": partner_id})

    def _set(self, response: Response, request: Request, who: dict[str, str]) -> None:
        assert self._fernet is not None, "sign-in is off: no session secret"
        payload = json.dumps(who | {"c": secrets.token_urlsafe(32)}).encode()
        response.set_cookie(
            COOKIE,
            self._fernet.encrypt(payload).decode("ascii"),
            max_age=MAX_AGE_SECONDS,
            path="/",
            httponly=True,
            # Lax, not Strict: a person following a link to the console from a mail or a chat
            # must arrive signed in. Lax still withholds the cookie from cross-site POSTs, and
            # every form also carries the CSRF token.
            samesite="lax",
            secure=self.secure(request),
        )

    def secure(self, request: Request) -> bool:
        """Whether cookies get `Secure`: served over TLS, here or at the public URL."""
        return self._https or request.url.scheme == "https"

    @staticmethod
    def end(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")

    async def current(self, request: Request, area: Area) -> Session | None:
        """The request's session if its cookie decrypts, is fresh, and its key is still valid
        and of the area's role; None otherwise (the page then asks to sign in)."""
        raw = request.cookies.get(COOKIE)
        if self._fernet is None or not raw or len(raw) > MAX_COOKIE:
            return None
        try:
            data = json.loads(self._fernet.decrypt(raw.encode("ascii"), ttl=MAX_AGE_SECONDS))
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        key, partner = data.get("k"), data.get("p")
        if isinstance(partner, str) and area == "portal":
            # No key to check again: the session ends with its cookie (MAX_AGE_SECONDS).
            by_link = Principal("e-mail-link", "partner", f"{partner} (e-mail link)", partner)
            return Session(key=None, principal=by_link, csrf=data["c"])
        principal = await self.principal_of(key) if isinstance(key, str) else None
        if principal is None or principal.role != ROLE_OF[area]:
            return None
        return Session(key=key, principal=principal, csrf=data["c"])


def csrf_holds(session: Session, request: Request, form_value: str | None) -> bool:
    """A state-changing request carries the session's token, in the form or in the header htmx
    sends; another site can make a browser post, but cannot read the token."""
    sent = form_value or request.headers.get(CSRF_HEADER) or ""
    if not sent or len(sent) > MAX_CSRF:
        return False
    return hmac.compare_digest(sent.encode(), session.csrf.encode())


def _derive(secret: str) -> bytes:
    """A Fernet key of its own from the pages' secret: HKDF with a label, so the cookie key is
    never the key that signs answer links, though both come from one configured secret."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"stax.session.v1").derive(
        secret.encode()
    )
    return base64.urlsafe_b64encode(key)
