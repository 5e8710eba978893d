"""The analysis of one camera: motion, zones, person check, tamper, and the alert lifecycle.

:class:`CameraAnalyzer` is synchronous, pure CPU and holds all per-camera state; the live runner
calls it from a worker thread, the offline runner in a plain loop. It never raises on odd frames
from a working camera (a resolution change, a black or white picture, a jump in time): it resets
what depends on the old picture and carries on. A gap between frames longer than an alert's end
grace (an outage) ends that alert at the last frame before the gap; :meth:`CameraAnalyzer.no_frames`
does the same while the gap lasts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import cv2
import numpy as np

from alerts.config import DEFAULT_COOLDOWN_S, AnalysedCameraConfig
from alerts.events import CAMERA_ZONE, AlertEvent, AlertKind
from alerts.geometry import ZoneError, ignore_mask_from
from alerts.lifecycle import QUIET_S, AlertBook
from alerts.motion import MotionDetector, MotionResult
from alerts.person import PersonDetector
from alerts.tamper import TamperDetector
from alerts.zones import ZoneRule, build_rules, ignore_mask

log = logging.getLogger(__name__)

BLIND_KINDS = frozenset({AlertKind.TAMPER_COVERED, AlertKind.TAMPER_FROZEN, AlertKind.TAMPER_MOVED})
"""Tamper conditions under which the scene is not seen as it was: zone alerts neither start, grow
nor end (a moved camera's picture differs from the background everywhere it shifted)."""
PERSON_STICKY_S = 3.0
"""A person confirmed in a zone is taken as still there while motion continues this long."""
TIME_JUMP_S = 5.0
"""A frame clock going back or jumping forward by more than this is a discontinuity."""
OUTAGE_FRAMES = 2.0
"""Frames missing for at least this many frame intervals (and the alert's end grace) are an outage:
at a low analysis rate consecutive frames are far apart, and that alone ends nothing."""


def load_ignore_mask(config: AnalysedCameraConfig) -> np.ndarray | None:
    """The camera's ignore-mask image as a 0/255 array (white = ignore), or None when it has none.

    The config already checked the file; one that became unreadable since is a :class:`ZoneError`
    (the live runner reports it as a crashed analysis and retries).
    """
    path = config.analysis.ignore_mask
    if path is None:
        return None
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ZoneError(f"camera {config.id}: ignore_mask {path} cannot be read as an image")
    # Threshold at mid-grey: JPEG leaves black areas a few levels above zero.
    _, mask = cv2.threshold(img, 127, 255, cv2.THRESH_BINARY)
    return mask


class CameraAnalyzer:
    """Turns one camera's small gray frames into alert events."""

    def __init__(
        self,
        config: AnalysedCameraConfig,
        *,
        extra_ignore: np.ndarray | None = None,
        person_detector: PersonDetector | None = None,
        tamper: bool = True,
        cooldowns: Mapping[AlertKind, float] | None = None,
    ) -> None:
        a = config.analysis
        self.camera_id = config.id
        self.size = (a.width, a.height)
        mask = ignore_mask(config.zones, a.width, a.height)
        for extra_mask in (load_ignore_mask(config), extra_ignore):
            if extra_mask is not None:
                extra = ignore_mask_from(extra_mask, a.width, a.height)
                mask = extra if mask is None else cv2.bitwise_or(mask, extra)
        self.motion = MotionDetector(
            config.id, a.width, a.height, a.motion_threshold, a.min_area_fraction, mask, fps=a.fps
        )
        self.rules: list[ZoneRule] = build_rules(
            config.id, config.zones, a.width, a.height, self.motion.min_area_px, a.fps
        )
        self.person = person_detector
        if self.person is None and any(r.person_check for r in self.rules):
            self.person = PersonDetector(config.id)
        enabled = tamper and a.tamper.enabled
        self.tamper = TamperDetector(config.id, a.width, a.height, a.tamper) if enabled else None
        per_kind = {kind: a.cooldown_for(kind.value) for kind in AlertKind}
        per_kind.update(cooldowns or {})
        # An alert may not end inside a gap its rule bridges (a loiterer hidden for a moment).
        quiets: dict[AlertKind, float] = {}
        for rule in self.rules:
            if rule.bridge_s > 0:
                quiets[rule.kind] = max(quiets.get(rule.kind, QUIET_S), rule.bridge_s)
        self.book = AlertBook(config.id, DEFAULT_COOLDOWN_S, per_kind, quiets)
        self.outage_s = OUTAGE_FRAMES / a.fps
        """Least gap between frames that ends open alerts, whatever their end grace."""
        self._confirmed: dict[str, float] = {}
        self._input_shape: tuple[int, ...] | None = None
        self._last_ts: float | None = None
        self._tampered = False
        self.frames = 0
        """Frames analysed."""
        self.resets = 0
        """Times the detectors started afresh (resolution change, time jump)."""

    def _reset(self, why: str) -> None:
        log.warning("camera %s: analysis reset (%s)", self.camera_id, why)
        self.resets += 1
        self.motion.reset()
        if self.tamper is not None:
            self.tamper.reset()
        for rule in self.rules:
            rule.reset()
        self._confirmed.clear()

    def _prepare(self, gray: np.ndarray, ts: float) -> np.ndarray:
        if not isinstance(gray, np.ndarray) or gray.size == 0:
            raise TypeError(f"camera {self.camera_id}: a frame must be a non-empty numpy array")
        if gray.ndim == 3 and gray.shape[2] in (3, 4):
            gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY if gray.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
        if gray.ndim != 2:
            raise TypeError(f"camera {self.camera_id}: a frame must be 2-D gray, got shape {gray.shape}")
        if gray.dtype != np.uint8:
            gray = cv2.convertScaleAbs(gray)
        if self._input_shape is not None and gray.shape != self._input_shape:
            self._reset(
                f"frame size changed from {self._input_shape[1]}x{self._input_shape[0]} "
                f"to {gray.shape[1]}x{gray.shape[0]}"
            )
        elif self._last_ts is not None and not (-TIME_JUMP_S < ts - self._last_ts < TIME_JUMP_S):
            self._reset(f"frame clock jumped by {ts - self._last_ts:.1f} s")
        self._input_shape = gray.shape
        self._last_ts = ts
        if (gray.shape[1], gray.shape[0]) != self.size:
            gray = cv2.resize(gray, self.size, interpolation=cv2.INTER_AREA)
        return gray

    def process(self, gray: np.ndarray, ts: float, skipped: int = 0) -> list[AlertEvent]:
        """Analyse one frame taken at ``ts`` (seconds); the alert events it causes, in order.

        ``skipped``: frames that arrived since the previous one analysed but were not analysed (a
        busy host). Then the time between the two is not an outage: the picture did not stop.
        """
        previous = self._last_ts
        frame = self._prepare(gray, ts)
        self.frames += 1
        events: list[AlertEvent] = []
        if previous is not None and ts > previous and not skipped:
            # Frames stopped for a while: what was open ended when the picture stopped, and is not
            # stretched across the outage by this frame (nor by the frames settling after it).
            events.extend(self.book.lapse(previous, ts - previous, self.outage_s))
        seen: set[tuple[AlertKind, str]] = set()
        tampered = blind = False
        motion = self.motion.process(frame)
        if self.tamper is not None:
            for f in self.tamper.process(frame, ts, quiet=not motion.blobs):
                tampered = True
                # Covered, frozen or moved, the camera does not show the scene it learnt; defocused,
                # it still does, and what happens there is still reported.
                blind = blind or f.kind in BLIND_KINDS
                seen.add((f.kind, CAMERA_ZONE))
                ev = self.book.seen(f.kind, CAMERA_ZONE, f.score, ts, f.details)
                if ev is not None:
                    events.append(ev)
        recovered = self._tampered and not tampered
        if recovered:
            # The picture is back: what the background learnt meanwhile is worthless (and so is the
            # motion just judged against it).
            self.motion.reset()
        self._tampered = tampered
        if blind or recovered or motion.recalibrated or motion.settling or motion.flat:
            # No news about the scene: open zone alerts neither end nor grow, and the zones' quiet
            # gaps do not run (one event seen through a recalibration stays one alert).
            self.book.hold(ts)
            for rule in self.rules:
                rule.hold(ts)
        else:
            events.extend(self._zones(frame, motion, ts, seen))
        events.extend(self.book.expire(ts, seen))
        return events

    def _zones(
        self, frame: np.ndarray, motion: MotionResult, ts: float, seen: set[tuple[AlertKind, str]]
    ) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for rule in self.rules:
            if rule.splits:
                quiet_since = rule.renewal(motion, ts)
                if quiet_since is not None and rule.person_check and not self._new_person(rule, frame, motion, ts):
                    quiet_since = None  # new motion, but not a person: not a new event in this zone
                if quiet_since is not None:
                    ended = self.book.split(rule.kind, rule.id, ts, quiet_since)
                    if ended is not None:
                        events.append(ended)
            present = rule.is_present(motion)
            if rule.person_check:
                person = present and self._person_present(rule, frame, motion, ts)
                signal = rule.update_checked(motion, present, person, ts)
            else:
                signal = rule.update(motion, present, ts)
            if signal is None:
                continue
            seen.add((rule.kind, rule.id))
            ev = self.book.seen(rule.kind, rule.id, signal.score, ts, signal.details)
            if ev is not None:
                events.append(ev)
        return events

    def _person_present(self, rule: ZoneRule, frame: np.ndarray, motion: MotionResult, ts: float) -> bool:
        last = self._confirmed.get(rule.id)
        if last is not None and ts - last <= PERSON_STICKY_S:
            self._confirmed[rule.id] = ts  # motion continues where a person was confirmed
            return True
        assert self.person is not None
        if self.person.confirm(frame, rule.blobs_inside(motion)):
            self._confirmed[rule.id] = ts
            return True
        self._confirmed.pop(rule.id, None)
        return False

    def _new_person(self, rule: ZoneRule, frame: np.ndarray, motion: MotionResult, ts: float) -> bool:
        # Only the regions holding the new activity: the person already confirmed there says nothing.
        assert self.person is not None
        if self.person.confirm(frame, rule.fresh_blobs(motion)):
            self._confirmed[rule.id] = ts
            return True
        return False

    def no_frames(self, idle_s: float) -> list[AlertEvent]:
        """No frame has come for ``idle_s`` seconds: end the open alerts whose end grace that exceeds,
        at the time of the last frame (the last that was seen of the scene)."""
        if self._last_ts is None:
            return []
        return self.book.lapse(self._last_ts, idle_s, self.outage_s)

    def signal_lost(self, lost: bool, ts: float, reason: str = "") -> list[AlertEvent]:
        """Start (or keep) the signal-loss alert while ``lost``; end it when the signal is back."""
        kind = AlertKind.TAMPER_SIGNAL_LOST
        if lost:
            ev = self.book.seen(kind, CAMERA_ZONE, 1.0, ts, {"reason": reason} if reason else {})
            return [ev] if ev is not None else []
        ev = self.book.end(kind, CAMERA_ZONE, ts)
        return [ev] if ev is not None else []

    def close(self, ts: float) -> list[AlertEvent]:
        """End every open alert (end of the video, the analysis stopping)."""
        return self.book.close(ts)
