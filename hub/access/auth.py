"""Logins, password hashes and signed, expiring tokens."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.access.loginguard import LoginThrottle
from hub.access.sessions import Revocations, SessionEnded
from hub.config import Role, Settings
from hub.people.directory import Directory
from streams.workpool import PoolBusy, WorkPool

logger = logging.getLogger(__name__)

TOKEN_ALGORITHM = "HS256"
MIN_SECRET_CHARS = 32
PASSWORD_THREADS = 1
"""Threads checking passwords: argon2 is slow on purpose, and guesses must not take the cameras' CPU."""
PASSWORD_NICE = 10
"""Password checks run below normal priority: a flood of guesses waits, ingest and analysis do not."""
PASSWORD_PENDING = 8
"""Password checks waiting or running at once; more are refused at once (503), never queued."""
PASSWORD_PENDING_SUSPECT = 4
"""Checks a login from an address with recent failures may find waiting: the rest of the
backlog stays free for addresses without failures, so a flood does not lock everyone out."""
HOLD_S = 1.0
"""A refused login (429, 503) is answered after this long (at most its Retry-After): a client
hammering the route gets one answer per second per connection instead of thousands."""
HOLD_MAX = 512
"""Refusals held at once; past this they are answered at once (holding costs a little memory each)."""
BUSY_LOG_INTERVAL_S = 10.0
"""At most one log line per this many seconds about logins refused for a full pool."""
VERIFIED_CACHE_SIZE = 4096
"""Tokens whose signature check is remembered (each caller's few live tokens; oldest dropped)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified contents of a token."""

    username: str
    """Login name."""
    roles: frozenset[Role]
    """Roles granted."""
    person: str
    """Directory person id."""
    grids: frozenset[str]
    """Grids the person serves (what a worker may see)."""
    session: str | None = None
    """The login session the token belongs to (``None``: a token made outside the hub with its secret)."""
    began_at: float = 0.0
    """When that session's login was (Unix time)."""
    expires_at: float = 0.0
    """When this token expires (Unix time)."""

    @property
    def is_worker_only(self) -> bool:
        """A worker without any wider role: their view is narrowed to their grids."""
        return self.roles <= {Role.WORKER, Role.VIEWER} and Role.WORKER in self.roles

    def visible_grids(self) -> frozenset[str] | None:
        """Grids this caller is limited to, or ``None`` for everything."""
        return self.grids if self.is_worker_only else None


class AuthError(Exception):
    """Login or token refused; the message is safe to show."""


class LoginRefused(AuthError):
    """A login not tried at all: throttled (429) or too many at once (503); retry after ``retry_after_s``."""

    def __init__(self, message: str, status: int, retry_after_s: float) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class Authenticator:
    """Checks passwords and issues/verifies tokens."""

    def __init__(self, settings: Settings, directory: Directory, secret: str) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"SKYHUB_SECRET must be at least {MIN_SECRET_CHARS} characters")
        self._secret = secret
        self._ttl_s = settings.auth.token_ttl_s
        self._session_max_s = settings.auth.session_max_s
        self.revocations = Revocations()
        """Sessions ended by logout or by an administrator (kept by :class:`hub.access.sessions.SessionGuard`)."""
        self._hasher = PasswordHasher()
        self._directory = directory
        self._users = {u.username: u for u in settings.users}
        # Checked on every request: an HMAC per user once, not per request.
        self._fingerprints = {u.username: self._fingerprint(u.password_hash) for u in settings.users}
        # Verifying against this keeps the timing the same for unknown users.
        self._dummy_hash = self._hasher.hash("skyhub-no-such-user")
        # token -> claims of tokens whose signature checked out: every request carries one, and
        # the HMAC and base64 work is a good share of a small request's CPU.
        self._verified: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.password_pool = WorkPool("password-checks", PASSWORD_THREADS, PASSWORD_PENDING, PASSWORD_NICE)
        """Argon2 checks run here, never in the loop's default pool that evidence work also uses."""
        self.throttle = LoginThrottle(settings.auth.lockout_first_s)
        """Failed logins per user name and per address."""
        self._busy_logged_at = -BUSY_LOG_INTERVAL_S
        self.held = 0
        """Refused logins being held before their answer."""

    def close(self) -> None:
        """Stop the password threads (idempotent)."""
        self.password_pool.shutdown()

    def _verify(self, username: str, password: str) -> bool:
        user = self._users.get(username)
        stored = user.password_hash if user and user.password_hash else self._dummy_hash
        try:
            ok: bool = self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            ok = False
        return ok and user is not None and user.password_hash is not None

    async def login(self, username: str, password: str, address: str = "?") -> str:
        """A token for valid credentials from ``address`` (the client's IP).

        :class:`LoginRefused` without checking the password when this user name or address is
        locked out after failures, or when too many checks are under way; :class:`AuthError`
        for wrong credentials. Argon2 runs in its own small pool.
        """
        wait_s = self.throttle.begin(username, address)
        if wait_s > 0:
            logger.debug("login throttled for user %r from %s (%.0f s)", username[:64], address, wait_s)
            await self._hold(wait_s)
            raise LoginRefused("too many failed logins; try again later", 429, wait_s)
        try:
            if self.throttle.suspect(address) and self.password_pool.pending >= PASSWORD_PENDING_SUSPECT:
                self.password_pool.refused += 1
                raise PoolBusy("kept for addresses without failures")
            ok = await self.password_pool.run(self._verify, username, password)
        except PoolBusy:
            now = time.monotonic()
            if now - self._busy_logged_at >= BUSY_LOG_INTERVAL_S:  # a flood must not flood the log too
                self._busy_logged_at = now
                logger.warning(
                    "logins: %d password checks under way; refused %d so far (latest from %s)",
                    PASSWORD_PENDING,
                    self.password_pool.refused,
                    address,
                )
            self.throttle.released(username, address)  # not checked: not a failure either
            await self._hold(1.0)
            raise LoginRefused("the hub is busy checking other logins; try again shortly", 503, 1.0) from None
        if not ok:
            self.throttle.failed(username, address)
            logger.info("login refused for user %r from %s", username[:64], address)
            raise AuthError("wrong username or password")
        self.throttle.succeeded(username, address)
        return self.issue(username)

    async def _hold(self, wait_s: float) -> None:
        """Wait before answering a refusal (bounded in time and in how many wait at once)."""
        if self.held >= HOLD_MAX:
            return
        self.held += 1
        try:
            await asyncio.sleep(min(wait_s, HOLD_S))
        finally:
            self.held -= 1

    def issue(self, username: str) -> str:
        """A token for a new session of a configured user, valid for ``auth.token_ttl_s`` from now."""
        now = time.time()
        return self._token(username, secrets.token_urlsafe(12), round(now, 3), now)

    def refresh(self, who: Principal) -> str:
        """A fresh token for the caller's session (``POST /api/auth/refresh``).

        Pages swap their token for a new one before it runs out, so a long shift does not silently
        lose its instructions and calls; but a session ends ``auth.session_max_s`` after its login
        however often it is refreshed. A token made outside the hub (no session) gets a session.
        """
        now = time.time()
        if who.session is None:
            return self.issue(who.username)
        if now >= who.began_at + self._session_max_s:
            raise AuthError("this session has reached its time limit; log in again")
        return self._token(who.username, who.session, who.began_at, now)

    def _token(self, username: str, sid: str, began_at: float, now: float) -> str:
        user = self._users[username]
        exp = int(min(now + self._ttl_s, began_at + self._session_max_s))
        claims = {
            "sub": username,
            "roles": [r.value for r in user.roles],
            "iat": int(now),
            "exp": exp,
            "sid": sid,
            "at": began_at,
            "pw": self._fingerprints[username],
        }
        return jwt.encode(claims, self._secret, algorithm=TOKEN_ALGORITHM)

    def _fingerprint(self, password_hash: str | None) -> str:
        """Names the password a session was made with, without saying anything about it."""
        if not password_hash:
            return ""
        return hmac.new(self._secret.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:16]

    def verify(self, token: str) -> Principal:
        """The caller behind a token; :class:`AuthError` if forged, expired, stale or its session ended."""
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] > time.time():
            self._verified.move_to_end(token)
        else:
            self._verified.pop(token, None)
            try:
                claims = jwt.decode(
                    token, self._secret, algorithms=[TOKEN_ALGORITHM], options={"require": ["exp", "sub"]}
                )
            except jwt.ExpiredSignatureError:
                raise AuthError("token expired") from None
            except jwt.PyJWTError:
                raise AuthError("invalid token") from None
            self._verified[token] = claims
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        subject = str(claims["sub"])
        user = self._users.get(subject)
        if user is None:
            raise AuthError("invalid token")
        sid = claims.get("sid")
        if sid is not None and claims.get("pw") != self._fingerprints[subject]:
            # Changed or removed in the config since this session's login.
            raise AuthError("the password has changed since this login; log in again")
        began_at = float(claims.get("at", claims.get("iat", 0)))
        try:
            self.revocations.check(subject, None if sid is None else str(sid), began_at)
        except SessionEnded as exc:
            raise AuthError(str(exc)) from None
        person = user.person or user.username
        # Roles come from the current config, not the token, so a removed role takes effect at once.
        return Principal(
            user.username,
            frozenset(user.roles),
            person,
            self._directory.grids_of(person),
            None if sid is None else str(sid),
            began_at,
            float(claims["exp"]),
        )

    def hash_password(self, password: str) -> str:
        """An argon2 hash for the config file."""
        return self._hasher.hash(password)
