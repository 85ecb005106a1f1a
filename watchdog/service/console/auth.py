"""The console's sessions: a login with one of the API's tokens, an HMAC-signed cookie, CSRF tokens.

::

    GET /ui/login ──▶ login nonce cookie + form (csrf = HMAC(secret, "login|" nonce))
        │
    POST /ui/login (name, token, csrf) ──▶ token compared like the API does ──▶ session cookie
        │                                                                       payload.HMAC(secret, payload)
    every page: the cookie's signature and age are checked; every form carries
    csrf = HMAC(secret, "csrf|" session id), checked on POST before anything is read or written

The secret is drawn per process (``secrets.token_bytes``), so a restart ends every session. The cookie
holds the steward's name (recorded with acknowledgements and vetoes), a random session id, when it was
issued, and a fingerprint of the token used; never the token. It is ``HttpOnly``, ``SameSite=Strict``,
``Path=/ui``, and ``Secure`` when the console is reached over https.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = ["LOGIN_COOKIE", "SESSION_COOKIE", "SESSION_SECONDS", "Session", "Sessions"]

SESSION_COOKIE = "watchdog_session"
LOGIN_COOKIE = "watchdog_login"
#: How long a session lasts from the login (one on-call shift).
SESSION_SECONDS = 12 * 3600.0
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in steward: ``name`` as typed at the login, ``sid`` the session's random id."""

    name: str
    sid: str
    issued_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Signs and checks the console's cookies and CSRF tokens with a secret of this process."""

    def __init__(self, tokens: Iterable[bytes], clock: Callable[[], float], *,
                 max_age: float = SESSION_SECONDS, secret: bytes | None = None):
        self._tokens = list(tokens)
        if not self._tokens:
            raise ValueError("tokens must hold at least one token")
        if not max_age > 0:
            raise ValueError(f"max_age must be positive, got {max_age}")
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.clock = clock
        self.max_age = max_age

    def _mac(self, *parts: str) -> str:
        return hmac.new(self._secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()

    def _fingerprint(self, token: bytes) -> str:
        return self._mac("token", hashlib.sha256(token).hexdigest())[:16]

    def token_ok(self, given: str) -> bytes | None:
        """The configured token ``given`` equals, else None; every token is compared (no early exit), as
        the API does, so the answer time does not tell how much of a token was right."""
        raw = given.encode()
        found: bytes | None = None
        for t in self._tokens:
            if hmac.compare_digest(raw, t):
                found = t
        return found

    # the session cookie --------------------------------------------------------------------------

    def issue(self, name: str, token: bytes) -> str:
        """The cookie value of a new session for ``name``, logged in with ``token``."""
        payload = _b64(json.dumps({"n": name, "s": secrets.token_hex(16), "t": self.clock(),
                                   "k": self._fingerprint(token)}, separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}"

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged, expired or from a removed token."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        if not hmac.compare_digest(mac, self._mac("session", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            name, sid, issued, key = str(data["n"]), str(data["s"]), float(data["t"]), str(data["k"])
        except (ValueError, KeyError, TypeError):
            return None
        age = self.clock() - issued
        if not 0 <= age <= self.max_age:
            return None
        if not any(hmac.compare_digest(key, self._fingerprint(t)) for t in self._tokens):
            return None
        return Session(name=name, sid=sid, issued_at=issued)

    # CSRF ----------------------------------------------------------------------------------------

    def csrf(self, session: Session) -> str:
        """The CSRF token every form of this session carries."""
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: Session, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(str(given), self.csrf(session))

    @staticmethod
    def login_nonce() -> str:
        return secrets.token_hex(16)

    def login_csrf(self, nonce: str) -> str:
        """The login form's CSRF token, bound to the nonce in the login cookie (no session exists yet)."""
        return self._mac("login", nonce)

    def login_csrf_ok(self, nonce: str | None, given: str | None) -> bool:
        return bool(nonce) and bool(given) and hmac.compare_digest(str(given), self.login_csrf(str(nonce)))
