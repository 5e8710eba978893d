"""Domain data of instructions (broadcasts to people in the field) and their receipts."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Priority(StrEnum):
    """How a worker's client should present it (an emergency is announced differently)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ReceiptState(StrEnum):
    """How far one recipient got with one instruction."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    READ = "read"
    ACKNOWLEDGED = "acknowledged"
    REPLIED = "replied"


RANK = {
    ReceiptState.QUEUED: 0,
    ReceiptState.DELIVERED: 1,
    ReceiptState.READ: 2,
    ReceiptState.ACKNOWLEDGED: 3,
    ReceiptState.REPLIED: 3,
}
"""Receipts only move forward; acknowledging and replying are both the last step."""

DONE = frozenset({ReceiptState.ACKNOWLEDGED, ReceiptState.REPLIED})
"""States that count as confirmed."""

WORKER_FEED_TYPES = (
    "instruction.sent",
    "instruction.amended",
    "instruction.cancelled",
    "instruction.renotified",
    "instruction.escalated",
)
"""Log events the worker channel turns into messages (receipts themselves are not replayed)."""


@dataclass(frozen=True)
class Targets:
    """Whom an instruction is for; resolved once, when it is sent."""

    people: tuple[str, ...] = ()
    """Person ids."""
    roles: tuple[str, ...] = ()
    """Everyone holding one of these roles."""
    nodes: tuple[str, ...] = ()
    """Everyone serving at or below these nodes of the district tree."""
    on_duty_only: bool = False
    """Leave out people who are off duty."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "people": list(self.people),
            "roles": list(self.roles),
            "nodes": list(self.nodes),
            "on_duty_only": self.on_duty_only,
        }


@dataclass
class Instruction:
    """One instruction as sent (and maybe amended or cancelled)."""

    id: int
    """Instruction number."""
    text: str
    """The instruction (the latest amendment)."""
    priority: Priority
    """routine, urgent or emergency."""
    sent_by: str
    """Username of the coordinator."""
    sent_at: float
    """Unix seconds."""
    sent_event: int
    """Id of its ``instruction.sent`` event (where workers' cursors pick it up)."""
    deadline_at: float | None
    """Acknowledge by this time, or be re-notified."""
    escalate_at: float | None
    """Still not acknowledged by this time: the grid's leader is told."""
    reply_options: list[str]
    """Canned replies offered to the worker."""
    attachments: list[int]
    """Attachment ids."""
    targets: dict[str, Any]
    """The targets as given."""
    cancelled: bool
    """Cancelled instructions take no more receipts."""
    amendments: int
    """How many times the text was amended."""
    recipients: int = 0
    """How many people it was frozen to."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else."""

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["priority"] = self.priority.value
        return d

    def message(self) -> dict[str, Any]:
        """What a worker's client is sent."""
        return {
            "id": self.id,
            "text": self.text,
            "priority": self.priority.value,
            "sent_by": self.sent_by,
            "sent_at": self.sent_at,
            "deadline_at": self.deadline_at,
            "reply_options": self.reply_options,
            "attachments": self.attachments,
            "cancelled": self.cancelled,
            "amendments": self.amendments,
        }


def subject_of(instruction_id: int) -> str:
    """The log subject of an instruction."""
    return f"instruction:{instruction_id}"
