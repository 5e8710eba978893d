"""Synthetic hard cases made from real footage: lighting changes, noise, shake, and tamper.

Used by the evaluation (``scripts/eval_analysis.py`` and its short form in the tests). Every
function works on a list of ``(ts, gray)`` analysis frames and returns a new list; randomness is
seeded, so a case is the same on every run. The changes are applied to the small analysis frame,
which is harsher than applying them to the full picture (noise is not averaged away by scaling).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Frames = list[tuple[float, np.ndarray]]


def clip_span(frames: Frames, start: float, end: float) -> Frames:
    """The frames with ``start <= ts < end``."""
    return [(t, g) for t, g in frames if start <= t < end]


def pingpong(frames: Frames, duration_s: float, fps: float) -> Frames:
    """Play ``frames`` forward and backward until ``duration_s``, re-timed from 0 at ``fps``.

    Turns a short still stretch into a long one without a jump at the turns.
    """
    if not frames:
        raise ValueError("no frames to loop")
    seq = [g for _, g in frames]
    cycle = seq + seq[-2:0:-1] if len(seq) > 2 else seq
    n = int(duration_s * fps)
    return [(i / fps, cycle[i % len(cycle)]) for i in range(n)]


def _apply(frames: Frames, t0: float, t1: float, fn: Callable[[float, np.ndarray], np.ndarray]) -> Frames:
    return [(t, fn(t, g) if t0 <= t < t1 else g) for t, g in frames]


def _gain(g: np.ndarray, gain: float, offset: float) -> np.ndarray:
    return cv2.convertScaleAbs(g, alpha=gain, beta=offset)


def brightness_step(frames: Frames, t0: float, gain: float = 1.4, offset: float = 10.0) -> Frames:
    """From ``t0`` on, every frame ``gain`` times brighter plus ``offset`` (lights switched on)."""
    return _apply(frames, t0, float("inf"), lambda t, g: _gain(g, gain, offset))


def brightness_ramp(frames: Frames, t0: float, t1: float, end_gain: float = 0.45) -> Frames:
    """Gain falling linearly from 1 at ``t0`` to ``end_gain`` at ``t1``, then held (dusk)."""

    def fn(t: float, g: np.ndarray) -> np.ndarray:
        k = min(1.0, (t - t0) / (t1 - t0))
        return _gain(g, 1.0 + k * (end_gain - 1.0), 0.0)

    return _apply(frames, t0, float("inf"), fn)


def _noisy(g: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.normal(0.0, sigma, g.shape).astype(np.float32)
    return cv2.convertScaleAbs(cv2.add(g.astype(np.float32), noise))


def ir_switch(frames: Frames, t0: float, gain: float = 1.5, offset: float = 15.0, sigma: float = 4.0) -> Frames:
    """From ``t0``: the night mode's grayscale picture with raised gain (and its extra noise).

    The analysis already sees only luma, so dropping colour changes nothing there; the gain step
    and the noise of a high-gain sensor are what it must survive.
    """
    rng = np.random.default_rng(7)
    return _apply(frames, t0, float("inf"), lambda t, g: _noisy(_gain(g, gain, offset), sigma, rng))


def sensor_noise(frames: Frames, t0: float, sigma: float = 8.0) -> Frames:
    """From ``t0``: Gaussian noise of ``sigma`` grey levels on every pixel of every frame."""
    rng = np.random.default_rng(11)
    return _apply(frames, t0, float("inf"), lambda t, g: _noisy(g, sigma, rng))


def shift(g: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``g`` translated by (dx, dy) pixels, edges filled by replication."""
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], np.float32)
    return cv2.warpAffine(g, m, (g.shape[1], g.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def shake(frames: Frames, t0: float, amplitude: float = 0.01) -> Frames:
    """From ``t0``: each frame moved by a random sub-pixel offset up to ``amplitude`` of the width."""
    rng = np.random.default_rng(13)

    def fn(t: float, g: np.ndarray) -> np.ndarray:
        a = amplitude * g.shape[1]
        return shift(g, float(rng.uniform(-a, a)), float(rng.uniform(-a, a)))

    return _apply(frames, t0, float("inf"), fn)


def black(frames: Frames, t0: float, t1: float) -> Frames:
    """Between ``t0`` and ``t1``: a black picture with a little sensor noise."""
    rng = np.random.default_rng(17)
    return _apply(frames, t0, t1, lambda t, g: _noisy(np.full_like(g, 3), 1.0, rng))


def night_cover(frames: Frames, t0: float, t1: float) -> Frames:
    """Between ``t0`` and ``t1``: a lens covered at night: dark, with the sensor's gain turned up (noise)."""
    rng = np.random.default_rng(23)
    return _apply(frames, t0, t1, lambda t, g: _noisy(np.full_like(g, 14), 8.0, rng))


def blur(frames: Frames, t0: float, t1: float, sigma_fraction: float = 0.025) -> Frames:
    """Between ``t0`` and ``t1``: strong defocus (Gaussian of ``sigma_fraction`` of the width)."""
    return _apply(frames, t0, t1, lambda t, g: cv2.GaussianBlur(g, (0, 0), sigma_fraction * g.shape[1]))


def moved(frames: Frames, t0: float, t1: float, fraction: float = 0.15) -> Frames:
    """Between ``t0`` and ``t1``: the scene shifted sideways by ``fraction`` of the width."""
    return _apply(frames, t0, t1, lambda t, g: shift(g, fraction * g.shape[1], 0.0))


def frozen(frames: Frames, t0: float, t1: float) -> Frames:
    """Between ``t0`` and ``t1``: the picture stuck at the frame shown at ``t0``."""
    stuck = next((g for t, g in frames if t >= t0), None)
    if stuck is None:
        return list(frames)
    return _apply(frames, t0, t1, lambda t, g: stuck.copy())


HARD_NEGATIVES: dict[str, Callable[[Frames, float], Frames]] = {
    "brightness_step_up": lambda f, t0: brightness_step(f, t0, 1.4, 10.0),
    "brightness_step_down": lambda f, t0: brightness_step(f, t0, 0.55, 0.0),
    "brightness_ramp": lambda f, t0: brightness_ramp(f, t0, t0 + 10.0),
    "ir_switch": ir_switch,
    "sensor_noise": sensor_noise,
    "shake": shake,
}
"""Name → perturbation starting at ``t0``; none of them may raise an alert."""

TAMPER_CASES: dict[str, tuple[str, Callable[[Frames, float, float], Frames]]] = {
    "black": ("tamper.covered", black),
    "night_cover": ("tamper.covered", night_cover),
    "blur": ("tamper.defocused", blur),
    "shift_15pct": ("tamper.moved", moved),
    "frozen": ("tamper.frozen", frozen),
}
"""Name → (alert kind expected, perturbation between ``t0`` and ``t1``)."""
