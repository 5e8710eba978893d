"""Alert events: the plain data the analysis hands to the event log and the incident desk."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlertType(StrEnum):
    """Where an alert is in its lifecycle; also the event log type."""

    STARTED = "alert.started"
    UPDATED = "alert.updated"
    ENDED = "alert.ended"


class AlertKind(StrEnum):
    """What was seen."""

    MOTION = "motion"
    INTRUSION = "intrusion"
    LOITERING = "loitering"
    CROWD = "crowd"
    LINE_CROSSING = "line_crossing"
    TAMPER_COVERED = "tamper.covered"
    TAMPER_DEFOCUSED = "tamper.defocused"
    TAMPER_MOVED = "tamper.moved"
    TAMPER_FROZEN = "tamper.frozen"
    TAMPER_SIGNAL_LOST = "tamper.signal_lost"

    @property
    def is_tamper(self) -> bool:
        """Whether this kind is about the camera itself rather than the scene."""
        return self.value.startswith("tamper.")


CAMERA_ZONE = "camera"
"""Zone id used by camera-wide alerts (tamper)."""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One step of an alert's lifecycle on one camera."""

    type: AlertType
    """``alert.started``, ``alert.updated`` or ``alert.ended``."""
    kind: AlertKind
    """What was seen."""
    camera: str
    """Camera id."""
    zone: str
    """Zone id; :data:`CAMERA_ZONE` for camera-wide alerts."""
    score: float
    """Strength of the evidence in 0..1 (occupied share of the zone, tamper certainty…)."""
    ts: float
    """Timestamp of the frame that caused this step (the frame clock: wall time live, video time offline)."""
    alert_id: str
    """Same id on every step of one alert."""
    details: dict[str, Any] = field(default_factory=dict)
    """Kind-specific figures: bounding box, duration, peak score, direction…"""

    def to_data(self) -> dict[str, Any]:
        """The event log payload (the camera is also the event's subject)."""
        return {
            "camera": self.camera,
            "kind": self.kind.value,
            "zone": self.zone,
            "score": round(self.score, 4),
            "alert_id": self.alert_id,
            "ts": self.ts,
            **self.details,
        }
