"""Floor control of a briefing: who may speak to the group (plain logic, no I/O).

Listeners ask for the floor with a priority (0 normal, 1 urgent, 2 emergency). The speaker
grants a waiting request or revokes the holder; a request with a strictly higher priority than
the holder's takes the floor at once (preemption). Exactly one holder at a time, or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_PRIORITY = 2


@dataclass(frozen=True)
class FloorChange:
    """What a floor operation did, for events and rewiring."""

    granted: str | None = None
    """Who got the floor."""
    revoked: str | None = None
    """Who lost it (revoked, preempted or released)."""
    queued: str | None = None
    """Who now waits for it."""
    how: str = ""
    """``granted``, ``preempted``, ``revoked``, ``released`` or ``queued``."""


@dataclass
class FloorControl:
    """The holder and the waiting requests of one briefing."""

    holder: str | None = None
    """Who speaks to the group now."""
    holder_priority: int = 0
    """Priority the holder asked with."""
    waiting: dict[str, int] = field(default_factory=dict)
    """Waiting requests: username → priority, in arrival order."""

    def request(self, who: str, priority: int = 0) -> FloorChange:
        """``who`` asks to speak; preempts a lower-priority holder, otherwise waits for a grant."""
        if not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be 0..{MAX_PRIORITY}")
        if who == self.holder:
            return FloorChange()
        if self.holder is not None and priority > self.holder_priority:
            old = self.holder
            self.waiting.pop(who, None)
            self.holder, self.holder_priority = who, priority
            return FloorChange(granted=who, revoked=old, how="preempted")
        self.waiting[who] = max(priority, self.waiting.get(who, 0))
        return FloorChange(queued=who, how="queued")

    def grant(self, who: str) -> FloorChange:
        """The speaker gives ``who`` the floor (replacing any holder)."""
        if who == self.holder:
            return FloorChange()
        old = self.holder
        self.holder_priority = self.waiting.pop(who, 0)
        self.holder = who
        return FloorChange(granted=who, revoked=old, how="granted")

    def revoke(self) -> FloorChange:
        """The speaker takes the floor back."""
        old, self.holder, self.holder_priority = self.holder, None, 0
        return FloorChange(revoked=old, how="revoked") if old else FloorChange()

    def release(self, who: str) -> FloorChange:
        """``who`` gives up the floor or withdraws a request (also when they leave)."""
        self.waiting.pop(who, None)
        if self.holder == who:
            self.holder, self.holder_priority = None, 0
            return FloorChange(revoked=who, how="released")
        return FloorChange()
