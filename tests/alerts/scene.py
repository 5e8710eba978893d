"""Synthetic analysis frames for the alerts tests: a textured still scene and things moving in it."""

from __future__ import annotations

import cv2
import numpy as np

from alerts.config import AnalysisConfig, ZoneConfig
from hub.config import CameraConfig

W, H = 160, 90
FPS = 5.0


def background(seed: int = 1, w: int = W, h: int = H) -> np.ndarray:
    """A still scene with texture and edges (so sharpness and position can be judged)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 200, (h // 6 + 1, w // 6 + 1)).astype(np.uint8)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    cv2.rectangle(img, (w // 8, h // 5), (w // 3, h // 2), 230, -1)
    cv2.line(img, (0, h * 3 // 4), (w - 1, h * 2 // 3), 30, 2)
    return img


class Scene:
    """Frames of a still scene with optional sensor noise, a moving person-sized box and more."""

    def __init__(self, seed: int = 1, noise: float = 2.0, w: int = W, h: int = H) -> None:
        self.bg = background(seed, w, h)
        self.rng = np.random.default_rng(seed + 100)
        self.noise = noise
        self.w, self.h = w, h

    def frame(self, box: tuple[int, int, int, int] | None = None, value: int = 20) -> np.ndarray:
        """One frame; ``box`` (x, y, w, h) is drawn as a dark figure."""
        img = self.bg.copy()
        if box is not None:
            x, y, bw, bh = box
            cv2.rectangle(img, (x, y), (x + bw, y + bh), value, -1)
        if self.noise > 0:
            n = self.rng.normal(0, self.noise, img.shape).astype(np.float32)
            img = cv2.convertScaleAbs(cv2.add(img.astype(np.float32), n))
        return img


def camera(zones: list[ZoneConfig] | None = None, cooldown_s: float = 0.0, **analysis: object) -> CameraConfig:
    """A camera config for the tests: 160x90 at 5 fps, no cool-down unless asked."""
    analysis.setdefault("fps", FPS)
    a = AnalysisConfig(width=W, height=H, cooldown_s=cooldown_s, **analysis)  # type: ignore[arg-type]
    return CameraConfig(id="cam1", url="file:///dev/null", zones=zones or [], analysis=a)


def walk(scene: Scene, start_s: float, end_s: float, x0: int, x1: int, y: int = 30) -> list[tuple[float, np.ndarray]]:
    """Frames at 5 fps from ``start_s`` to ``end_s`` with a 12x40 figure walking from x0 to x1."""
    out = []
    n = int(round((end_s - start_s) * FPS))
    for i in range(n):
        x = int(x0 + (x1 - x0) * i / max(1, n - 1))
        out.append((start_s + i / FPS, scene.frame((x, y, 12, 40))))
    return out


def still(scene: Scene, start_s: float, end_s: float) -> list[tuple[float, np.ndarray]]:
    """Frames at 5 fps of the empty scene."""
    n = int(round((end_s - start_s) * FPS))
    return [(start_s + i / FPS, scene.frame()) for i in range(n)]
