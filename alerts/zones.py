"""Zone rules: intrusion, loitering, crowd gathering and line crossing on one camera.

Each rule looks at the motion foreground inside its polygon once per analysed frame and says
whether its condition holds now (a :class:`ZoneSignal`). Presence rules (intrusion, whole-frame
motion) also say when motion starts again after a quiet gap somewhere other than the foreground
already in view (:meth:`ZoneRule.renewal`): something still (an object put down, a person waiting)
can keep presence alive, but the next person walking in is a new event and gets its own alert.
Turning those per-frame signals into started/updated/ended alerts is :mod:`alerts.lifecycle`'s job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from alerts.config import MIN_AREA_PX, ZoneConfig
from alerts.events import AlertKind
from alerts.geometry import crossing_direction, line_ends, polygon_mask, segments_cross
from alerts.motion import Blob, MotionResult

log = logging.getLogger(__name__)

PRESENCE_GAP_S = 2.0
"""A zone stays occupied through a gap in detections this long (a person hidden for a moment)."""
CROWD_GAP_S = 1.0
"""A crowd lasts through a dip below the occupied share this long."""
STRONG_FACTOR = 4.0
"""A moving region this many times the minimum area alerts the whole-frame motion rule at once."""
MAX_TRACK_JUMP = 0.25
"""Farthest a blob may move between two frames and still be the same object (share of the width)."""
SPLIT_GAP_S = 1.5
"""Quiet (nothing moving in the zone) this long before new, separate motion counts as a new event."""
SPLIT_GAP_FRAMES = 2.0
"""…and at least this many frame intervals: at a low analysis rate consecutive frames are far apart."""
SPLIT_OVERLAP = 0.25
"""New motion is separate when at most this share of it (or the minimum area) touches what was there."""


def split_gap_s(fps: float) -> float:
    """The quiet gap after which new, separate motion is a new event, at ``fps`` analysed frames per second."""
    return max(SPLIT_GAP_S, SPLIT_GAP_FRAMES / fps)


@dataclass(slots=True)
class ZoneSignal:
    """A rule's verdict on one frame: its condition holds, how strongly, and why."""

    score: float
    """Evidence in 0..1."""
    details: dict[str, Any] = field(default_factory=dict)
    """Figures for the alert (bounding box, dwell, direction…)."""


class ZoneRule:
    """Base of the zone rules: the zone's mask, and presence of motion inside it."""

    kind: AlertKind = AlertKind.INTRUSION
    splits = False
    """Whether new, separate activity after a quiet gap starts a new alert (see :meth:`renewal`)."""
    bridge_s = 0.0
    """Longest gap in the evidence the rule's condition lives through; its alert must not end sooner."""

    def __init__(
        self, camera_id: str, zone: ZoneConfig, width: int, height: int, min_area_px: float, fps: float = 5.0
    ) -> None:
        self.camera_id = camera_id
        self.fps = fps
        self.zone = zone
        self.id = zone.id
        self.width = width
        self.height = height
        self.person_check = zone.person_check
        self.min_px = max(MIN_AREA_PX, min_area_px)
        if zone.kind == "line":
            self.mask = np.full((height, width), 255, np.uint8)
        else:
            self.mask = polygon_mask(zone.id, zone.polygon, width, height)
        self.area_px = float(cv2.countNonZero(self.mask))
        x, y, w, h = cv2.boundingRect(self.mask)
        self._box = (x, y, x + w, y + h)
        self._whole = self.area_px >= width * height
        self._last_active: float | None = None
        self._last_ts: float | None = None

    def reset(self) -> None:
        """Forget state that spans frames (after a resolution change or a gap)."""
        self._last_active = None
        self._last_ts = None

    def hold(self, ts: float) -> None:
        """A frame with no news about the scene (motion settling or recalibrating, the camera tampered).

        The quiet gap does not run during it: a person walking through a recalibration was not
        gone, and must not come back as a new event.
        """
        if self._last_active is not None and self._last_ts is not None:
            self._last_active += ts - self._last_ts
        self._last_ts = ts

    def activity(self, motion: MotionResult) -> tuple[int, int]:
        """Pixels inside the zone that moved since the last frame, and how many of them are new ground."""
        if self._whole or motion.moving is None:
            return motion.moving_px, motion.fresh_px
        moving = cv2.countNonZero(cv2.bitwise_and(motion.moving, self.mask))
        fresh = 0 if motion.fresh is None else cv2.countNonZero(cv2.bitwise_and(motion.fresh, self.mask))
        return moving, fresh

    def renewal(self, motion: MotionResult, ts: float) -> float | None:
        """When motion starts again in the zone after a quiet gap, away from the foreground already
        there: the time the zone went quiet. None otherwise — also when the zone has no known past
        (the analysis just started or was reset): no gap was seen, so nothing is split."""
        self._last_ts = ts
        moving, fresh = self.activity(motion)
        if moving < self.min_px:
            return None
        last, self._last_active = self._last_active, ts
        if last is None or ts - last < split_gap_s(self.fps):
            return None
        if fresh < self.min_px or moving - fresh > max(self.min_px, SPLIT_OVERLAP * moving):
            return None  # what was there started moving again: the same event
        return last

    def fresh_blobs(self, motion: MotionResult) -> list[Blob]:
        """The blobs in the zone that hold new activity (:attr:`MotionResult.fresh` inside the polygon)."""
        if motion.fresh is None:
            return []
        fresh = motion.fresh if self._whole else cv2.bitwise_and(motion.fresh, self.mask)
        return [b for b in self.blobs_inside(motion) if cv2.countNonZero(fresh[b.y : b.y + b.h, b.x : b.x + b.w])]

    def blobs_inside(self, motion: MotionResult) -> list[Blob]:
        """Blobs whose bounding box meets the zone's bounding box."""
        x0, y0, x1, y1 = self._box
        return [b for b in motion.blobs if b.x < x1 and b.x + b.w > x0 and b.y < y1 and b.y + b.h > y0]

    def occupied_px(self, motion: MotionResult) -> int:
        """Foreground pixels inside the polygon."""
        if not motion.blobs:
            return 0
        return int(cv2.countNonZero(cv2.bitwise_and(motion.mask, self.mask)))

    def box_details(self, blobs: list[Blob]) -> dict[str, Any]:
        """The union of ``blobs`` as a normalised [x, y, w, h] box."""
        if not blobs:
            return {}
        x0 = min(b.x for b in blobs)
        y0 = min(b.y for b in blobs)
        x1 = max(b.x + b.w for b in blobs)
        y1 = max(b.y + b.h for b in blobs)
        w, h = self.width, self.height
        return {"box": [round(x0 / w, 4), round(y0 / h, 4), round((x1 - x0) / w, 4), round((y1 - y0) / h, 4)]}

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        """The rule's verdict on this frame; ``present`` says whether the zone is occupied now."""
        raise NotImplementedError

    def update_checked(self, motion: MotionResult, present: bool, person: bool, ts: float) -> ZoneSignal | None:
        """The verdict in a zone with the person check: ``person`` says whether it confirmed a person
        in the zone's motion on this frame. By default only confirmed presence counts."""
        return self.update(motion, present and person, ts)

    def is_present(self, motion: MotionResult) -> bool:
        """Whether enough foreground lies inside the zone to call it occupied."""
        return self.occupied_px(motion) >= self.min_px


class IntrusionRule(ZoneRule):
    """Something (a person, when the zone asks for the check) inside for ``min_frames`` frames."""

    kind = AlertKind.INTRUSION
    splits = True

    def __init__(
        self, camera_id: str, zone: ZoneConfig, width: int, height: int, min_area_px: float, fps: float = 5.0
    ) -> None:
        super().__init__(camera_id, zone, width, height, min_area_px, fps)
        self._frames = 0

    def reset(self) -> None:
        super().reset()
        self._frames = 0

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        self._frames = self._frames + 1 if present else 0
        if self._frames < self.zone.min_frames:
            return None
        share = self.occupied_px(motion) / self.area_px
        return ZoneSignal(min(1.0, share), self.box_details(self.blobs_inside(motion)))

    def update_checked(self, motion: MotionResult, present: bool, person: bool, ts: float) -> ZoneSignal | None:
        """The frames of motion before the check confirms a person count toward ``min_frames``: the
        person was in them (HOG often needs a frame or two to see the whole figure walking in), so
        the alert comes on the first confirmation once the motion has lasted long enough."""
        signal = self.update(motion, present, ts)
        return signal if person else None


class MotionRule(IntrusionRule):
    """The default when a camera has no zones: motion anywhere in the picture.

    A large moving region counts on its first frame; small ones must last ``min_frames``.
    """

    kind = AlertKind.MOTION

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        strong = present and self._frames == 0 and self.occupied_px(motion) >= STRONG_FACTOR * self.min_px
        if strong:
            self._frames = self.zone.min_frames - 1
        return super().update(motion, present, ts)


class _Dwell:
    """How long a condition has held, bridging short gaps."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self.since: float | None = None
        self.last: float | None = None

    def update(self, holds: bool, ts: float) -> float:
        """Seconds the condition has held as of ``ts`` (0 when it does not hold)."""
        if holds:
            if self.since is None or self.last is None or ts - self.last > self.gap_s:
                self.since = ts
            self.last = ts
            return ts - self.since
        if self.last is not None and ts - self.last > self.gap_s:
            self.since = self.last = None
        return 0.0

    def reset(self) -> None:
        self.since = self.last = None


class LoiteringRule(ZoneRule):
    """Presence in the zone for longer than ``dwell_s``."""

    kind = AlertKind.LOITERING
    bridge_s = PRESENCE_GAP_S

    def __init__(
        self, camera_id: str, zone: ZoneConfig, width: int, height: int, min_area_px: float, fps: float = 5.0
    ) -> None:
        super().__init__(camera_id, zone, width, height, min_area_px, fps)
        self._dwell = _Dwell(self.bridge_s)

    def reset(self) -> None:
        super().reset()
        self._dwell.reset()

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        dwell = self._dwell.update(present, ts)
        if not present or dwell < self.zone.dwell_s:
            return None
        details = {"dwell_s": round(dwell, 1), **self.box_details(self.blobs_inside(motion))}
        return ZoneSignal(min(1.0, dwell / (2.0 * self.zone.dwell_s)), details)


class CrowdRule(ZoneRule):
    """The occupied share of the zone above ``occupied_fraction`` for ``duration_s``."""

    kind = AlertKind.CROWD
    bridge_s = CROWD_GAP_S

    def __init__(
        self, camera_id: str, zone: ZoneConfig, width: int, height: int, min_area_px: float, fps: float = 5.0
    ) -> None:
        super().__init__(camera_id, zone, width, height, min_area_px, fps)
        self._dwell = _Dwell(CROWD_GAP_S)

    def reset(self) -> None:
        super().reset()
        self._dwell.reset()

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        share = self.occupied_px(motion) / self.area_px if present else 0.0
        crowded = share >= self.zone.occupied_fraction
        held = self._dwell.update(crowded, ts)
        if not crowded or held < self.zone.duration_s:
            return None
        return ZoneSignal(min(1.0, share), {"occupied": round(share, 3), "held_s": round(held, 1)})


class LineRule(ZoneRule):
    """A moving blob whose centre crosses the line, in the configured direction."""

    kind = AlertKind.LINE_CROSSING

    def __init__(
        self, camera_id: str, zone: ZoneConfig, width: int, height: int, min_area_px: float, fps: float = 5.0
    ) -> None:
        super().__init__(camera_id, zone, width, height, min_area_px, fps)
        self._a, self._b = line_ends(zone.id, zone.polygon, width, height)
        self._prev: list[tuple[float, float]] = []
        self._max_jump = MAX_TRACK_JUMP * width

    def reset(self) -> None:
        super().reset()
        self._prev = []

    def is_present(self, motion: MotionResult) -> bool:
        return bool(motion.blobs)

    def update(self, motion: MotionResult, present: bool, ts: float) -> ZoneSignal | None:
        current = [b.centroid for b in motion.blobs] if present else []
        crossed: list[str] = []
        for q in current:
            near = min(self._prev, key=lambda p: (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2, default=None)
            if near is None or (near[0] - q[0]) ** 2 + (near[1] - q[1]) ** 2 > self._max_jump**2:
                continue
            if segments_cross(self._a, self._b, near, q):
                direction = crossing_direction(near, q)
                if self.zone.direction in ("any", direction):
                    crossed.append(direction)
        self._prev = current
        if not crossed:
            return None
        return ZoneSignal(1.0, {"direction": crossed[0], "crossings": len(crossed)})


RULES: dict[str, type[ZoneRule]] = {
    "intrusion": IntrusionRule,
    "loitering": LoiteringRule,
    "crowd": CrowdRule,
    "line": LineRule,
}


def build_rules(
    camera_id: str, zones: list[ZoneConfig], width: int, height: int, min_area_px: float, fps: float = 5.0
) -> list[ZoneRule]:
    """The rules of a camera's zones (ignore zones excluded); whole-frame motion when there are none."""
    rules = [RULES[z.kind](camera_id, z, width, height, min_area_px, fps) for z in zones if z.kind != "ignore"]
    if not rules:
        frame = ZoneConfig(id="frame", kind="intrusion", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)], min_frames=2)
        rules.append(MotionRule(camera_id, frame, width, height, min_area_px, fps))
    return rules


def ignore_mask(zones: list[ZoneConfig], width: int, height: int) -> np.ndarray | None:
    """The union of a camera's ignore zones, or None when it has none."""
    masks = [polygon_mask(z.id, z.polygon, width, height) for z in zones if z.kind == "ignore"]
    if not masks:
        return None
    out = masks[0]
    for m in masks[1:]:
        out = cv2.bitwise_or(out, m)
    return out
