"""Login throttling: failed logins per user name and per address, then a growing lockout.

Guessing passwords costs the hub an argon2 check each (slow on purpose), so a flood of wrong
passwords is both an attack on an account and on the CPU the cameras need. Each user name and
each client address get a few free failures; after that every failure locks the key for twice
as long as the last (1 s, 2 s, 4 s … up to :data:`LOCK_MAX_S`), and a login tried while locked is
answered 429 with ``Retry-After`` without checking the password at all. A success clears the
user name's count (not the address's: one good login does not buy an address more guesses).
An attempt counts as a failure from the moment it starts, so a hundred parallel guesses are
judged as a hundred, not as none because none had finished yet.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

USER_FREE_FAILURES = 5
"""Wrong passwords for one user name before the lockouts start."""
ADDRESS_FREE_FAILURES = 20
"""Wrong passwords from one address before its lockouts start (several people share an address)."""
LOCK_BASE_S = 1.0
"""The first lockout; each further failure doubles it."""
LOCK_MAX_S = 900.0
"""The longest lockout."""
FORGET_S = 3600.0
"""A key with no failure for this long starts again from nothing."""
MAX_KEYS = 20_000
"""Keys remembered; the least recently failed are forgotten first."""


@dataclass
class _Record:
    failures: int = 0
    locked_until: float = 0.0
    last: float = 0.0


class LoginThrottle:
    """Judges each login attempt by its user name and its client address (this node's memory)."""

    def __init__(self, lock_base_s: float = LOCK_BASE_S, max_keys: int = MAX_KEYS) -> None:
        self.lock_base_s = lock_base_s
        self._records: OrderedDict[tuple[str, str], _Record] = OrderedDict()
        self._max_keys = max_keys
        self.refused = 0
        """Attempts refused with 429 so far."""
        self.failures = 0
        """Wrong passwords so far."""

    def begin(self, username: str, address: str, now: float | None = None) -> float:
        """0 when the attempt may go on (it counts as a failure until :meth:`succeeded`);
        otherwise the seconds to wait, and the attempt must be refused."""
        now = time.monotonic() if now is None else now
        keys = (("user", username.casefold()), ("addr", address))
        wait = max(self._locked_for(key, now) for key in keys)
        if wait > 0:
            self.refused += 1
            return wait
        for key, free in zip(keys, (USER_FREE_FAILURES, ADDRESS_FREE_FAILURES), strict=True):
            self._fail(key, free, now)
        return 0.0

    def succeeded(self, username: str, address: str) -> None:
        """The password was right: the user name starts again; the address keeps all but this attempt."""
        self._records.pop(("user", username.casefold()), None)
        record = self._records.get(("addr", address))
        if record is not None and record.failures > 0:
            record.failures -= 1
            if record.failures <= ADDRESS_FREE_FAILURES:
                record.locked_until = 0.0

    def released(self, username: str, address: str) -> None:
        """The attempt was not tried after all (the password checks were full): it is no failure."""
        for key, free in (
            (("user", username.casefold()), USER_FREE_FAILURES),
            (("addr", address), ADDRESS_FREE_FAILURES),
        ):
            record = self._records.get(key)
            if record is not None and record.failures > 0:
                record.failures -= 1
                if record.failures <= free:
                    record.locked_until = 0.0

    def suspect(self, address: str, now: float | None = None) -> bool:
        """Whether ``address`` failed a login lately (beyond the attempt under way)."""
        record = self._records.get(("addr", address))
        now = time.monotonic() if now is None else now
        return record is not None and record.failures > 1 and now - record.last <= FORGET_S

    def failed(self, username: str, address: str, now: float | None = None) -> None:
        """A wrong password: the attempt already counted against its keys; its lockout runs from now,
        when the answer is known, not from when the check began (a check can take a second)."""
        self.failures += 1
        now = time.monotonic() if now is None else now
        for key, free in (
            (("user", username.casefold()), USER_FREE_FAILURES),
            (("addr", address), ADDRESS_FREE_FAILURES),
        ):
            record = self._records.get(key)
            if record is not None and record.failures > free:
                record.locked_until = max(record.locked_until, now + self._lock_s(record.failures - free))

    def _lock_s(self, over: int) -> float:
        """The lockout after ``over`` failures beyond the free ones: 1 s, 2 s, 4 s … up to :data:`LOCK_MAX_S`."""
        return min(LOCK_MAX_S, self.lock_base_s * 2 ** min(over - 1, 30))

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """``wait_s`` as a ``Retry-After`` value (whole seconds, at least 1)."""
        return str(max(1, math.ceil(wait_s)))

    def _locked_for(self, key: tuple[str, str], now: float) -> float:
        record = self._records.get(key)
        if record is None:
            return 0.0
        if now - record.last > FORGET_S and record.locked_until <= now:
            del self._records[key]
            return 0.0
        return max(0.0, record.locked_until - now)

    def _fail(self, key: tuple[str, str], free: int, now: float) -> None:
        record = self._records.pop(key, None) or _Record()
        self._records[key] = record  # most recently failed last
        record.failures += 1
        record.last = now
        over = record.failures - free
        if over > 0:
            record.locked_until = now + self._lock_s(over)
        while len(self._records) > self._max_keys:
            self._records.popitem(last=False)
