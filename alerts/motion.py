"""Motion on small grayscale frames, built for surveillance.

Each frame is blurred and contrast-normalised (its mean and spread, measured on the pixels that
were background in the previous frame, are mapped to fixed values), so a global gain or offset
change — clouds, auto-exposure, a slow dusk ramp, the IR switch — leaves the normalised picture
nearly unchanged. The normalised frame is compared with a running-average background that keeps
a small tolerance for camera shake (the background's local min/max over a few pixels).
Background pixels adapt quickly, foreground pixels very slowly, so a person who stands still
stays foreground for minutes instead of melting into the background within seconds. A sudden
change across most of the picture (lights switched, IR switch, lightning) recalibrates the
background instead of reporting motion.

Two more things keep one event one alert. Foreground that has not changed for a while is checked
for being a *ghost* — the hole an object leaves where it stood (a bottle taken off a table, a car
that was parked when the background was learnt): along the region's outline the background has
edges and the live picture has none. A ghost is absorbed at once instead of holding an alert open
for minutes; a still person or a newly left object keeps its edges in the live picture and stays.
And each result says which foreground pixels moved since the last frame, and which of those lie
outside the previous frame's foreground, so the zones can tell new activity from what was already
in view.

Only OpenCV operations run per frame; no numpy reductions over the whole frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from alerts.config import FLAT_STD, MIN_AREA_PX

log = logging.getLogger(__name__)

NORM_MEAN = 128.0
"""Grey level the normalised frame's mean is mapped to."""
NORM_STD = 40.0
"""Spread the normalised frame's standard deviation is mapped to."""
MAX_GAIN = 12.0
"""Most contrast stretch applied, so a flat dark scene does not turn noise into motion."""
MIN_MATCH_SHARE = 0.3
"""Least share of background pixels to match gain on; below it the whole frame is used."""
ALPHA_BG = 0.05
"""Background learning rate of background pixels, per analysed frame."""
ALPHA_FG = 0.0005
"""Learning rate of foreground pixels: a still object is absorbed only after minutes (ghosts too)."""
GLOBAL_CELLS = (8, 4)
"""Grid (columns, rows) on which a sudden global change is judged."""
GLOBAL_CELL_CHANGE = 12.0
"""Change of a cell's normalised mean between two frames that counts as changed (grey levels)."""
GLOBAL_RAW_CHANGE = 0.12
"""Relative change of a cell's raw mean brightness between two frames that counts as changed."""
GLOBAL_CELL_SHARE = 0.7
"""Share of cells that must change together for a global change."""
GLOBAL_FG_SHARE = 0.5
"""Share of the frame in foreground that also counts as a global change."""
NOISE_CAP = 16.0
"""Per-pixel cap of the difference when the noise floor is measured (grey levels)."""
NOISE_K = 5.0
"""The threshold is at least this many times the noise floor."""
SETTLE_FRAMES = 3
"""Frames after a recalibration during which no motion is reported; they build the new background."""
SETTLE_ALPHA = 0.4
"""Learning rate of every pixel while settling."""
RELEARN_FRAMES = 10
"""Frames after a recalibration during which foreground pixels also adapt fast (clears ghosts)."""
GHOST_STILL_S = 1.0
"""Foreground unchanged this long is checked for being a ghost."""
GHOST_EVERY_S = 0.6
"""How often still foreground is checked for ghosts."""
GHOST_STILL_SHARE = 0.9
"""Share of a foreground region that must be still for the region to be checked."""
GHOST_EDGE_RATIO = 2.0
"""A still region is a ghost when the background's edges along its outline are this much stronger…"""
GHOST_EDGE_MIN = 4.0
"""…and stronger by at least this many grey levels (so two flat pictures decide nothing)."""
GHOST_STEP_RATIO = 3.0
"""…or the background's step in mean grey across the outline is this much larger than the live one's…"""
GHOST_STEP_MIN = 20.0
"""…and larger by at least this many grey levels."""
GHOST_RING_PX = 2
"""Half-width of the band along a region's outline where edges are compared, pixels."""


@dataclass(frozen=True, slots=True)
class Blob:
    """One moving region of the analysis frame."""

    x: int
    """Left edge, pixels."""
    y: int
    """Top edge, pixels."""
    w: int
    """Width, pixels."""
    h: int
    """Height, pixels."""
    area: float
    """Contour area, pixels."""

    @property
    def centroid(self) -> tuple[float, float]:
        """Centre of the bounding box, pixels."""
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)


@dataclass(slots=True)
class MotionResult:
    """What the motion detector saw in one frame."""

    mask: np.ndarray
    """Foreground mask (0/255, ignore areas removed), analysis size."""
    blobs: list[Blob]
    """Moving regions at least the minimum area."""
    recalibrated: bool = False
    """A global change reset the background on this frame."""
    flat: bool = False
    """The frame has no contrast (black, white, covered); motion is not judged."""
    settling: bool = False
    """The background is new or was just reset; motion is not judged yet."""
    moving: np.ndarray | None = None
    """Foreground pixels that changed since the previous frame (0/255), None when there are none."""
    moving_px: int = 0
    """How many pixels :attr:`moving` holds."""
    fresh: np.ndarray | None = None
    """Moving pixels outside the previous frame's foreground (new activity), None when there are none.

    Also None on the first judged frame after the background was (re)started: there is no previous
    foreground to compare with, so nothing can be told apart as new."""
    fresh_px: int = 0
    """How many pixels :attr:`fresh` holds."""
    ghosts: int = 0
    """Ghost regions absorbed into the background on this frame."""


def masked_stats(img: np.ndarray, mask: np.ndarray | None) -> tuple[float, float]:
    """Mean and standard deviation of a uint8 image over a 0/255 mask (all pixels when None).

    Sums over the masked copy: OpenCV's own masked ``meanStdDev`` is several times slower.
    """
    if mask is None:
        mean, std = cv2.meanStdDev(img)
        return float(mean[0, 0]), float(std[0, 0])
    n = cv2.countNonZero(mask)
    if n == 0:
        return 0.0, 0.0
    kept = cv2.bitwise_and(img, img, mask=mask)
    m = cv2.sumElems(kept)[0] / n
    var = cv2.norm(kept, cv2.NORM_L2SQR) / n - m * m
    return m, max(var, 0.0) ** 0.5


class MotionDetector:
    """Running-average background subtraction for one camera at a fixed analysis size."""

    def __init__(
        self,
        camera_id: str,
        width: int,
        height: int,
        threshold: int = 25,
        min_area_fraction: float = 0.002,
        ignore_mask: np.ndarray | None = None,
        shake_px: int | None = None,
        fps: float = 5.0,
    ) -> None:
        if ignore_mask is not None and ignore_mask.shape != (height, width):
            raise ValueError(
                f"camera {camera_id}: ignore mask is {ignore_mask.shape[1]}x{ignore_mask.shape[0]}, "
                f"the analysis frame is {width}x{height}"
            )
        self.camera_id = camera_id
        self.width = width
        self.height = height
        self.threshold = threshold
        self.min_area_px = max(MIN_AREA_PX, min_area_fraction * width * height)
        self._keep = None if ignore_mask is None else np.where(ignore_mask > 0, 0, 255).astype(np.uint8)
        # Shake tolerance: about 1 % of the width, at least one pixel.
        tol = shake_px if shake_px is not None else max(1, round(width / 100))
        self._tol_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * tol + 1, 2 * tol + 1))
        self._dilate_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._protect_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        self._edge_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
        ring = 2 * GHOST_RING_PX + 1
        self._ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ring, ring))
        blur = max(3, (width // 48) | 1)
        self._blur = (blur, blur)
        self._ghost_still = max(2, round(GHOST_STILL_S * fps))
        self._ghost_every = max(1, round(GHOST_EVERY_S * fps))
        shape = (height, width)
        # Buffers reused on every frame (the hot path allocates only what it hands out).
        self._bg: np.ndarray | None = None
        self._bg8 = np.zeros(shape, np.uint8)
        self._bg_mask = np.full(shape, 255, np.uint8)
        self._prev_norm = np.zeros(shape, np.uint8)
        self._prev_fg = np.zeros(shape, np.uint8)
        self._still = np.zeros(shape, np.uint8)
        self._ones = np.ones(shape, np.uint8)
        self._tmp = np.zeros(shape, np.uint8)
        self._tmp2 = np.zeros(shape, np.uint8)
        self._prev_judged = False
        self._cells: np.ndarray | None = None
        self._raw_cells: np.ndarray | None = None
        self._settle = 0
        self._relearn = 0
        self._gain = 1.0
        self._offset = 0.0
        self._frame_no = 0
        self._quiet = 0
        self.recalibrations = 0
        """Global changes absorbed so far."""
        self.ghosts = 0
        """Ghost regions absorbed so far."""

    def reset(self) -> None:
        """Forget the background (after a resolution change or a gap)."""
        self._bg = None
        self._cells = None
        self._raw_cells = None
        self._bg_mask[:] = 255
        self._still[:] = 0
        self._prev_judged = False
        self._settle = 0
        self._relearn = 0
        self._quiet = 0

    def normalise(self, gray: np.ndarray) -> np.ndarray | None:
        """Blurred copy of ``gray`` matched in gain and offset to the background; None when flat.

        The match is measured against the background model on the pixels that look like
        background under the previous frame's gain (so a large object walking in does not shift
        the whole picture), falling back to all pixels when few do (a real global change, which
        recalibrates anyway). The first frame is mapped to a fixed mean and spread instead.
        """
        blurred = cv2.blur(gray, self._blur)
        mean, std = cv2.meanStdDev(blurred)
        if float(std[0, 0]) < FLAT_STD:
            return None
        if self._bg is None:
            self._gain = min(NORM_STD / float(std[0, 0]), MAX_GAIN)
            self._offset = NORM_MEAN - float(mean[0, 0]) * self._gain
            return cv2.addWeighted(blurred, self._gain, blurred, 0.0, self._offset)
        bg8 = self._bg8
        first = cv2.addWeighted(blurred, self._gain, blurred, 0.0, self._offset)
        mask = self._tmp
        cv2.absdiff(first, bg8, dst=mask)
        cv2.threshold(mask, self.threshold, 255, cv2.THRESH_BINARY_INV, dst=mask)
        cv2.bitwise_and(mask, self._bg_mask, dst=mask)
        use = mask if cv2.countNonZero(mask) >= MIN_MATCH_SHARE * mask.size else None
        mf, sf = masked_stats(blurred, use)
        mb, sb = masked_stats(bg8, use)
        self._gain = min(max(sb / max(sf, 1e-3), 1.0 / MAX_GAIN), MAX_GAIN)
        self._offset = mb - mf * self._gain
        return cv2.addWeighted(blurred, self._gain, blurred, 0.0, self._offset, dst=first)

    def _global_change(self, gray: np.ndarray, norm: np.ndarray) -> bool:
        # A sudden change of the raw brightness across most of the picture (lights, IR switch,
        # exposure), or of the normalised picture (the scene itself changed everywhere).
        raw = cv2.resize(gray, GLOBAL_CELLS, interpolation=cv2.INTER_AREA).astype(np.float32)
        cells = cv2.resize(norm, GLOBAL_CELLS, interpolation=cv2.INTER_AREA).astype(np.float32)
        prev_raw, prev = self._raw_cells, self._cells
        self._raw_cells, self._cells = raw, cells
        if prev is None or prev_raw is None:
            return False
        rel = cv2.divide(cv2.absdiff(raw, prev_raw), prev_raw + 8.0)
        share = GLOBAL_CELL_SHARE * cells.size
        _, raw_changed = cv2.threshold(rel, GLOBAL_RAW_CHANGE, 1.0, cv2.THRESH_BINARY)
        if cv2.countNonZero(raw_changed) >= share:
            return True
        _, changed = cv2.threshold(cv2.absdiff(cells, prev), GLOBAL_CELL_CHANGE, 1.0, cv2.THRESH_BINARY)
        return cv2.countNonZero(changed) >= share

    def _recalibrate(self, norm: np.ndarray, why: str) -> None:
        assert self._bg is not None
        self._bg[:] = norm
        self._bg_mask[:] = 255
        self._still[:] = 0
        self._settle = SETTLE_FRAMES
        self._relearn = RELEARN_FRAMES
        self.recalibrations += 1
        log.info("camera %s: motion background recalibrated (%s)", self.camera_id, why)

    def _start(self, norm: np.ndarray, result: MotionResult) -> MotionResult:
        # Remember this frame as the previous one even when motion is not judged on it.
        # The foreground was not judged on it: the next judged frame has no previous foreground, and
        # must not take everything moving on it for new activity (that would split one event in two).
        np.copyto(self._prev_norm, norm)
        self._prev_judged = False
        if self._bg is not None:
            cv2.convertScaleAbs(self._bg, dst=self._bg8)
        return result

    def process(self, gray: np.ndarray) -> MotionResult:
        """Foreground mask and moving blobs of one ``height x width`` uint8 frame."""
        self._frame_no += 1
        norm = self.normalise(gray)
        if norm is None:
            # Nothing to compare; start afresh when the picture comes back.
            self.reset()
            return MotionResult(np.zeros((self.height, self.width), np.uint8), [], flat=True)
        global_change = self._global_change(gray, norm)
        if self._bg is None:
            self._bg = norm.astype(np.float32)
            self._settle = SETTLE_FRAMES
            return self._start(norm, MotionResult(np.zeros_like(norm), [], settling=True))
        if self._settle > 0:
            # Average a few frames into the fresh background, so its own noise is not the reference.
            self._settle -= 1
            cv2.accumulateWeighted(norm, self._bg, SETTLE_ALPHA)
            return self._start(norm, MotionResult(np.zeros_like(norm), [], settling=True))
        bg8 = self._bg8
        # Distance from the background's local range (shake tolerance), in one buffer.
        diff = cv2.subtract(norm, cv2.dilate(bg8, self._tol_kernel, dst=self._tmp))
        cv2.max(diff, cv2.subtract(cv2.erode(bg8, self._tol_kernel, dst=self._tmp), norm, dst=self._tmp), dst=diff)
        # Noise floor: the typical difference on last frame's background pixels, each capped so a
        # person walking in does not raise it. Sensor noise at night then raises the threshold.
        cv2.threshold(diff, NOISE_CAP, NOISE_CAP, cv2.THRESH_TRUNC, dst=self._tmp)
        noise = masked_stats(self._tmp, self._bg_mask)[0]
        threshold = max(float(self.threshold), NOISE_K * noise)
        _, fg = cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)
        cv2.dilate(fg, self._dilate_kernel, dst=fg, iterations=2)
        if global_change or cv2.countNonZero(fg) > GLOBAL_FG_SHARE * fg.size:
            self._recalibrate(norm, "global change" if global_change else "most of the frame changed")
            return self._start(norm, MotionResult(np.zeros_like(norm), [], recalibrated=True))
        # Protect more than the foreground from fast learning: the faint rim of a still person
        # would otherwise be absorbed first and eat the person from the outside in (and leave a ghost).
        protect = self._tmp2
        cv2.threshold(diff, threshold / 2, 255, cv2.THRESH_BINARY, dst=protect)
        cv2.dilate(protect, self._protect_kernel, dst=protect)
        cv2.bitwise_or(protect, fg, dst=protect)
        cv2.bitwise_not(protect, dst=self._bg_mask)
        cv2.accumulateWeighted(norm, self._bg, ALPHA_BG, mask=self._bg_mask)
        cv2.accumulateWeighted(norm, self._bg, ALPHA_BG if self._relearn > 0 else ALPHA_FG, mask=protect)
        self._relearn = max(0, self._relearn - 1)
        if self._keep is not None:
            cv2.bitwise_and(fg, self._keep, dst=fg)
        # What moved since the last frame: foreground whose picture changed (``diff`` is free now).
        changed = cv2.absdiff(norm, self._prev_norm, dst=diff)
        cv2.threshold(changed, threshold, 255, cv2.THRESH_BINARY, dst=changed)
        self._count_still(fg, changed)
        blobs, contours = self._blobs(fg)
        if not blobs:
            fg[:] = 0
        result = MotionResult(fg, blobs)
        if blobs:
            moving = cv2.bitwise_and(changed, fg, dst=changed)
            result.moving_px = cv2.countNonZero(moving)
            if result.moving_px:
                result.moving = moving
            if result.moving_px and self._prev_judged:
                fresh = cv2.bitwise_and(moving, cv2.bitwise_not(self._prev_fg, dst=self._tmp), dst=self._tmp)
                result.fresh_px = cv2.countNonZero(fresh)
                result.fresh = fresh.copy() if result.fresh_px else None
        self._quiet = self._quiet + 1 if result.moving_px < self.min_area_px else 0
        if self._quiet >= self._ghost_still:
            # Only a scene at rest is searched for ghosts: nothing half-still next to something moving.
            result.ghosts = self._ghosts(norm, contours)
        np.copyto(self._prev_norm, norm)
        np.copyto(self._prev_fg, fg)
        self._prev_judged = True
        cv2.convertScaleAbs(self._bg, dst=self._bg8)
        return result

    def _blobs(self, fg: np.ndarray) -> tuple[list[Blob], list[np.ndarray]]:
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        blobs: list[Blob] = []
        kept: list[np.ndarray] = []
        small = []
        for c in contours:
            area = cv2.contourArea(c)
            if area >= self.min_area_px:
                x, y, w, h = cv2.boundingRect(c)
                blobs.append(Blob(x, y, w, h, area))
                kept.append(c)
            else:
                small.append(c)
        if blobs and small:
            # Keep only the blobs that count, so zones do not add up specks.
            cv2.drawContours(fg, small, -1, 0, cv2.FILLED)
        return blobs, kept

    def _count_still(self, fg: np.ndarray, changed: np.ndarray) -> None:
        # Per pixel: frames it has been foreground without changing (saturates at 255).
        still = cv2.bitwise_and(fg, cv2.bitwise_not(changed, dst=self._tmp), dst=self._tmp)
        cv2.add(self._still, self._ones, dst=self._still, mask=still)
        cv2.bitwise_and(self._still, still, dst=self._still)

    def _ghosts(self, norm: np.ndarray, contours: list[np.ndarray]) -> int:
        """Absorb still foreground regions that are the hole an object left (see the module doc).

        Only whole regions count, judged on their own outline: part of a person that stands still
        while the legs move is not a candidate, and its inner edge says nothing.
        """
        if not contours or self._frame_no % self._ghost_every:
            return 0
        assert self._bg is not None
        pad = GHOST_RING_PX + 2
        found = 0
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            x0, y0 = max(0, x - pad), max(0, y - pad)
            x1, y1 = min(self.width, x + w + pad), min(self.height, y + h + pad)
            area = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.drawContours(area, [c], -1, 255, cv2.FILLED, offset=(-x0, -y0))
            _, old = cv2.threshold(self._still[y0:y1, x0:x1], self._ghost_still - 1, 255, cv2.THRESH_BINARY)
            inside = cv2.countNonZero(area)
            if cv2.countNonZero(cv2.bitwise_and(old, area)) < GHOST_STILL_SHARE * inside:
                continue
            ring = np.zeros_like(area)
            cv2.drawContours(ring, [c], -1, 255, 2 * GHOST_RING_PX + 1, offset=(-x0, -y0))
            live = cv2.morphologyEx(norm[y0:y1, x0:x1], cv2.MORPH_GRADIENT, self._edge_kernel)
            back = cv2.morphologyEx(self._bg8[y0:y1, x0:x1], cv2.MORPH_GRADIENT, self._edge_kernel)
            e_live = cv2.mean(live, mask=ring)[0]
            e_back = cv2.mean(back, mask=ring)[0]
            # On a textured scene the outline has edges either way; then compare the mean grey just
            # inside the outline with just outside it: a ghost's live picture runs on across it.
            inner = cv2.erode(area, self._ring_kernel, iterations=2)
            outer = cv2.subtract(cv2.dilate(area, self._ring_kernel), area)
            s_live = abs(cv2.mean(norm[y0:y1, x0:x1], mask=inner)[0] - cv2.mean(norm[y0:y1, x0:x1], mask=outer)[0])
            s_back = abs(
                cv2.mean(self._bg8[y0:y1, x0:x1], mask=inner)[0] - cv2.mean(self._bg8[y0:y1, x0:x1], mask=outer)[0]
            )
            edges = e_back >= GHOST_EDGE_RATIO * e_live and e_back - e_live >= GHOST_EDGE_MIN
            step = s_back >= GHOST_STEP_RATIO * s_live and s_back - s_live >= GHOST_STEP_MIN
            if edges or step:
                cv2.dilate(area, self._ring_kernel, dst=area)
                cv2.accumulateWeighted(norm[y0:y1, x0:x1], self._bg[y0:y1, x0:x1], 1.0, mask=area)
                cv2.bitwise_and(self._still[y0:y1, x0:x1], cv2.bitwise_not(area), dst=self._still[y0:y1, x0:x1])
                found += 1
                log.debug(
                    "camera %s: ghost at %d,%d %dx%d absorbed (edges %.1f live, %.1f background)",
                    self.camera_id,
                    x,
                    y,
                    w,
                    h,
                    e_live,
                    e_back,
                )
        self.ghosts += found
        return found
