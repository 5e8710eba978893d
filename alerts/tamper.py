"""Camera tamper: covered or blacked out, defocused, moved, frozen.

Each check compares the camera with itself: a covered lens leaves no contrast; a defocused one
loses sharpness against the camera's own slowly learnt baseline; a moved camera shows the scene
shifted against a reference picture; a frozen one repeats the same picture exactly (a real sensor
never does — there is always noise). Signal loss comes from the ingest supervisor, not from here.
Each condition must hold for a short time before it counts, so one odd frame raises nothing.
The thresholds and hold times come from the camera's ``analysis.tamper`` config
(:class:`hub.config.TamperConfig`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from alerts.config import TamperConfig
from alerts.events import AlertKind

log = logging.getLogger(__name__)

FROZEN_MAX_DIFF = 1.0
"""Largest pixel difference between consecutive frames that still counts as the same picture."""
DEFOCUS_RELEARN_RATIO = 0.75
"""The baseline learns only from frames at least this sharp relative to it."""
SHARP_ALPHA = 0.02
"""Learning rate of the log-sharpness baseline, per analysed frame."""
WARMUP_S = 3.0
"""Seconds of normal picture before sharpness and position are judged."""
MOVED_MIN_RESPONSE = 0.05
"""Phase-correlation peak below which the shift estimate is not trusted."""
MOVED_DIFF = 0.8
"""Mean difference (in standard deviations) from the reference that counts as a different view."""
MOVED_UNDO_RATIO = 0.7
"""Undoing the estimated shift must cut the difference from the reference to this share."""
COVER_BLOCK_PX = 8
"""Block size averaged before the covered check: noise of a covered lens at night averages out."""
NOISY_COVER_MAX_STD = 24.0
"""Pictures with less spread than this (grey levels) are checked for a noisy cover; a lit scene has more."""
MOVED_EVERY_S = 0.5
"""How often the position is checked (the costliest check)."""
REFERENCE_REFRESH_S = 30.0
"""How often an aligned, untampered picture replaces the position reference (slow scene changes)."""


@dataclass(slots=True)
class TamperFinding:
    """A tamper condition that holds on this frame."""

    kind: AlertKind
    """Which tamper."""
    score: float
    """Certainty in 0..1."""
    details: dict[str, Any] = field(default_factory=dict)
    """Figures behind the verdict."""


class _Held:
    """True once a condition has held for ``hold_s`` without a break."""

    __slots__ = ("hold_s", "since")

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.since: float | None = None

    def update(self, holds: bool, ts: float) -> bool:
        if not holds:
            self.since = None
            return False
        if self.since is None:
            self.since = ts
        return ts - self.since >= self.hold_s


class TamperDetector:
    """The tamper checks of one camera at a fixed analysis size."""

    def __init__(self, camera_id: str, width: int, height: int, settings: TamperConfig | None = None) -> None:
        self.camera_id = camera_id
        self.width = width
        self.height = height
        self.settings = settings or TamperConfig()
        self._small = (max(32, width // 2) & ~1, max(18, height // 2) & ~1)
        self._window = cv2.createHanningWindow(self._small, cv2.CV_32F)
        self.reset()

    def reset(self) -> None:
        """Forget baselines and references (after a resolution change)."""
        st = self.settings
        self._covered = _Held(st.covered_hold_s)
        self._frozen = _Held(st.frozen_hold_s)
        self._defocus = _Held(st.defocus_hold_s)
        self._moved = _Held(st.moved_hold_s)
        self._prev: np.ndarray | None = None
        self._log_sharp: float | None = None
        self._normal_since: float | None = None
        self._ref: np.ndarray | None = None
        self._ref_ts = 0.0
        self._moved_ts = -math.inf
        self._moved_state: tuple[bool, float, dict[str, Any]] = (False, 0.0, {})

    def process(self, gray: np.ndarray, ts: float, quiet: bool = True) -> list[TamperFinding]:
        """The tamper conditions holding on this ``height x width`` uint8 frame.

        ``quiet`` says nothing moves in the scene, so the frame may serve as the position reference.
        """
        out: list[TamperFinding] = []
        mean, std = cv2.meanStdDev(gray)
        m, s = float(mean[0, 0]), float(std[0, 0])
        covered_std = self.settings.covered_std
        covered = s < covered_std
        if not covered and s < NOISY_COVER_MAX_STD:
            # A lens covered at night shows the sensor's amplified noise, not a flat picture: judge
            # the spread of block averages too, where noise cancels out and any real scene remains.
            block = 1.0 / COVER_BLOCK_PX  # as a factor: OpenCV's fast path for whole-number shrinks
            small = cv2.resize(gray, (0, 0), fx=block, fy=block, interpolation=cv2.INTER_AREA)
            covered = float(cv2.meanStdDev(small)[1][0, 0]) < covered_std
        if self._covered.update(covered, ts):
            look = "black" if m < 50 else ("white" if m > 200 else "uniform")
            out.append(TamperFinding(AlertKind.TAMPER_COVERED, 1.0 - s / covered_std, {"look": look}))
        prev, self._prev = self._prev, gray.copy()
        same = prev is not None and prev.shape == gray.shape and cv2.norm(gray, prev, cv2.NORM_INF) <= FROZEN_MAX_DIFF
        if covered:
            self._normal_since = None
            self._defocus.update(False, ts)
            self._frozen.update(False, ts)
            return out
        if self._normal_since is None:
            self._normal_since = ts
        warm = ts - self._normal_since >= WARMUP_S
        focus, ratio = self._check_focus(gray, s, ts, warm)
        out.extend(focus)
        # A strongly blurred picture has no noise left and repeats itself: that is defocus, not a freeze.
        if self._frozen.update(same and ratio >= self.settings.defocus_ratio, ts):
            frozen_s = round(ts - (self._frozen.since or ts), 1)
            out.append(TamperFinding(AlertKind.TAMPER_FROZEN, 1.0, {"frozen_s": frozen_s}))
        out.extend(self._check_position(gray, ts, warm, quiet))
        return out

    def _check_focus(self, gray: np.ndarray, s: float, ts: float, warm: bool) -> tuple[list[TamperFinding], float]:
        lap = cv2.Laplacian(gray, cv2.CV_16S, ksize=3)
        # Its spread from two sums: OpenCV's meanStdDev on 16-bit pixels takes several times longer.
        n = lap.size
        lmean = cv2.sumElems(lap)[0] / n
        lstd = max(cv2.norm(lap, cv2.NORM_L2SQR) / n - lmean * lmean, 0.0) ** 0.5
        # Relative to the picture's own contrast, so a gain change does not look like a focus change.
        sharp = math.log(max(lstd / s, 1e-4))
        if self._log_sharp is None:
            self._log_sharp = sharp
            return [], 1.0
        ratio = math.exp(sharp - self._log_sharp)
        if ratio >= DEFOCUS_RELEARN_RATIO or not warm:
            self._log_sharp += SHARP_ALPHA * (sharp - self._log_sharp)
        if self._defocus.update(warm and ratio < self.settings.defocus_ratio, ts):
            score = min(1.0, 1.0 - ratio)
            return [TamperFinding(AlertKind.TAMPER_DEFOCUSED, score, {"sharpness_ratio": round(ratio, 3)})], ratio
        return [], ratio

    def _check_position(self, gray: np.ndarray, ts: float, warm: bool, quiet: bool) -> list[TamperFinding]:
        if ts - self._moved_ts >= MOVED_EVERY_S or ts < self._moved_ts:
            self._moved_ts = ts
            small = cv2.resize(gray, self._small, interpolation=cv2.INTER_AREA).astype(np.float32)
            mean, std = cv2.meanStdDev(small)
            small = (small - float(mean[0, 0])) / max(float(std[0, 0]), 1.0)
            if self._ref is None or not warm:
                self._ref, self._ref_ts = small, ts
                self._moved_state = (False, 0.0, {})
            else:
                self._moved_state = self._compare(small, ts, quiet)
        holds, score, details = self._moved_state
        if self._moved.update(holds, ts):
            return [TamperFinding(AlertKind.TAMPER_MOVED, score, details)]
        return []

    def _compare(self, small: np.ndarray, ts: float, quiet: bool) -> tuple[bool, float, dict[str, Any]]:
        assert self._ref is not None
        # Windowed copies: OpenCV 5's phaseCorrelate applies a window argument to its inputs in place.
        ref_w = cv2.multiply(self._ref, self._window)
        cur_w = cv2.multiply(small, self._window)
        (dx, dy), response = cv2.phaseCorrelate(ref_w, cur_w)
        shift = math.hypot(dx, dy) / self._small[0]
        min_shift = self.settings.moved_shift
        w, h = self._small
        mx, my = int(w * 0.2), int(h * 0.2)
        core = (slice(my, h - my), slice(mx, w - mx))
        diff = float(cv2.mean(cv2.absdiff(self._ref[core], small[core]))[0])
        moved = False
        if response >= MOVED_MIN_RESPONSE and shift >= min_shift:
            # Only a shift that explains the change counts: undoing it must bring the picture back.
            m = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
            back = cv2.warpAffine(small, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
            undone = float(cv2.mean(cv2.absdiff(self._ref[core], back[core]))[0])
            moved = undone < MOVED_UNDO_RATIO * diff
        elif response < MOVED_MIN_RESPONSE:
            moved = diff >= MOVED_DIFF
        aligned = shift < 1.5 / w and response >= MOVED_MIN_RESPONSE
        if aligned and quiet and ts - self._ref_ts >= REFERENCE_REFRESH_S:
            self._ref, self._ref_ts = small, ts
        details = {"shift": round(shift, 3), "dx": round(dx / self._small[0], 3), "dy": round(dy / self._small[1], 3)}
        return moved, min(1.0, max(shift / (2 * min_shift), diff / (2 * MOVED_DIFF))), details
