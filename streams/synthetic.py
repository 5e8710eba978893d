"""Camera scenes the project renders itself, so demos and tests need no footage.

A scene is a street camera's view drawn with OpenCV: a static background (buildings, a road,
pavements), people-like figures walking in and out, one figure that loiters in one place for a
while, and a car driving through. It is encoded once with PyAV (H.264, yuv420p, constrained
baseline, a keyframe every 2 s) and cached as ``data_dir/scenes/<name>.mp4``; ``synthetic://NAME``
camera URLs play that file as a looped live stream.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

log = logging.getLogger(__name__)

WIDTH = 640
HEIGHT = 360
FPS = 12
DURATION_S = 24
KEYFRAME_INTERVAL_S = 2.0


@dataclass(frozen=True)
class Walker:
    """A figure that moves along a straight path between two points during a time window."""

    start: tuple[float, float]
    """Where it appears (x, y in pixels, feet position)."""
    end: tuple[float, float]
    """Where it leaves the picture."""
    t0: float
    """Seconds into the scene when it appears."""
    t1: float
    """Seconds into the scene when it is gone."""
    colour: tuple[int, int, int]
    """Clothes colour (BGR)."""
    pause: tuple[float, float] | None = None
    """Optional (from, to) seconds during which it stands still halfway: a loiterer."""
    scale: float = 1.0
    """Size relative to a standard figure (smaller further away)."""

    def position(self, t: float) -> tuple[float, float] | None:
        """Feet position at time ``t``, or None when the figure is not in the picture."""
        if not self.t0 <= t <= self.t1:
            return None
        span = self.t1 - self.t0
        moving = span
        elapsed = t - self.t0
        if self.pause is not None:
            p0, p1 = self.pause
            moving = span - (p1 - p0)
            if t >= p1:
                elapsed -= p1 - p0
            elif t >= p0:
                elapsed = p0 - self.t0
        f = min(1.0, max(0.0, elapsed / moving))
        return (self.start[0] + f * (self.end[0] - self.start[0]), self.start[1] + f * (self.end[1] - self.start[1]))


@dataclass(frozen=True)
class Scene:
    """A background painter plus the moving things in front of it."""

    background: Callable[[], np.ndarray]
    walkers: tuple[Walker, ...]
    car_y: int
    car_t: tuple[float, float]
    car_colour: tuple[int, int, int]


def _street_background() -> np.ndarray:
    img = np.full((HEIGHT, WIDTH, 3), (200, 170, 140), np.uint8)  # sky
    rng = np.random.default_rng(7)
    x = 0
    while x < WIDTH:  # a row of buildings with windows
        w = int(rng.integers(70, 130))
        h = int(rng.integers(90, 150))
        shade = int(rng.integers(90, 160))
        cv2.rectangle(img, (x, 170 - h), (x + w, 170), (shade, shade - 10, shade - 25), -1)
        for wy in range(170 - h + 12, 160, 24):
            for wx in range(x + 10, x + w - 14, 22):
                cv2.rectangle(img, (wx, wy), (wx + 10, wy + 12), (60, 90, 120), -1)
        cv2.rectangle(img, (x + w // 2 - 9, 140), (x + w // 2 + 9, 170), (40, 50, 60), -1)  # door
        x += w + 4
    cv2.rectangle(img, (0, 170), (WIDTH, 215), (150, 150, 150), -1)  # far pavement
    cv2.rectangle(img, (0, 215), (WIDTH, 300), (70, 70, 70), -1)  # road
    for lx in range(0, WIDTH, 60):
        cv2.rectangle(img, (lx, 255), (lx + 30, 259), (230, 230, 230), -1)
    cv2.rectangle(img, (0, 300), (WIDTH, HEIGHT), (160, 160, 160), -1)  # near pavement
    return img


def _plaza_background() -> np.ndarray:
    img = np.full((HEIGHT, WIDTH, 3), (175, 185, 190), np.uint8)  # paving
    for gx in range(0, WIDTH, 40):
        cv2.line(img, (gx, 60), (gx, 300), (160, 170, 175), 1)
    for gy in range(60, 300, 40):
        cv2.line(img, (0, gy), (WIDTH, gy), (160, 170, 175), 1)
    cv2.rectangle(img, (0, 0), (WIDTH, 60), (80, 120, 90), -1)  # hedge and trees
    for tx in range(30, WIDTH, 90):
        cv2.circle(img, (tx, 45), 28, (50, 100, 60), -1)
    cv2.circle(img, (WIDTH // 2, 170), 55, (120, 110, 100), -1)  # fountain
    cv2.circle(img, (WIDTH // 2, 170), 45, (190, 150, 90), -1)
    cv2.rectangle(img, (440, 90), (520, 110), (60, 80, 110), -1)  # bench
    cv2.rectangle(img, (0, 300), (WIDTH, HEIGHT), (70, 70, 70), -1)  # road along the bottom
    return img


SCENES: dict[str, Scene] = {
    "street": Scene(
        background=_street_background,
        walkers=(
            Walker((-20, 200), (660, 195), 0.5, 14.0, (40, 40, 180)),
            Walker((660, 330), (-20, 335), 3.0, 15.0, (160, 60, 30), scale=1.2),
            Walker((-20, 335), (660, 340), 5.0, 21.0, (30, 150, 200), pause=(8.0, 16.0), scale=1.1),
            Walker((660, 205), (-20, 200), 12.0, 23.0, (90, 90, 90)),
        ),
        car_y=262,
        car_t=(6.0, 11.0),
        car_colour=(30, 30, 200),
    ),
    "plaza": Scene(
        background=_plaza_background,
        walkers=(
            Walker((-20, 120), (660, 280), 1.0, 13.0, (60, 160, 60)),
            Walker((500, 70), (120, 290), 4.0, 16.0, (150, 40, 150), scale=1.1),
            Walker((660, 250), (470, 110), 2.0, 20.0, (20, 120, 220), pause=(6.0, 15.0)),
            Walker((100, 290), (640, 80), 14.0, 23.5, (200, 200, 40)),
        ),
        car_y=335,
        car_t=(15.0, 19.0),
        car_colour=(200, 120, 30),
    ),
}


def _draw_person(img: np.ndarray, feet: tuple[float, float], colour: tuple[int, int, int], scale: float) -> None:
    x, y = int(feet[0]), int(feet[1])
    s = scale
    cv2.ellipse(img, (x, y - int(22 * s)), (int(8 * s), int(22 * s)), 0, 0, 360, colour, -1)  # body
    cv2.circle(img, (x, y - int(50 * s)), int(7 * s), (150, 180, 220), -1)  # head


def _draw_car(img: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> None:
    cv2.rectangle(img, (x, y - 22), (x + 90, y + 10), colour, -1)
    cv2.rectangle(img, (x + 18, y - 38), (x + 70, y - 22), colour, -1)
    cv2.rectangle(img, (x + 24, y - 35), (x + 64, y - 24), (200, 220, 230), -1)
    for wx in (x + 18, x + 72):
        cv2.circle(img, (wx, y + 10), 10, (20, 20, 20), -1)


def render_frame(scene: Scene, background: np.ndarray, t: float) -> np.ndarray:
    """The scene at ``t`` seconds, as a BGR image."""
    img = background.copy()
    for w in sorted(scene.walkers, key=lambda w: (w.position(t) or (0, 0))[1]):
        pos = w.position(t)
        if pos is not None:
            _draw_person(img, pos, w.colour, w.scale)
    c0, c1 = scene.car_t
    if c0 <= t <= c1:
        x = int(-100 + (t - c0) / (c1 - c0) * (WIDTH + 200))
        _draw_car(img, x, scene.car_y, scene.car_colour)
    return img


def _encode(scene: Scene, path: Path) -> None:
    background = scene.background()
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream(
            "libx264",
            rate=FPS,
            options={
                "preset": "veryfast",
                "profile": "baseline",
                "g": str(int(FPS * KEYFRAME_INTERVAL_S)),
                "keyint_min": str(int(FPS * KEYFRAME_INTERVAL_S)),
                "sc_threshold": "0",
                "bf": "0",
                "crf": "26",
            },
        )
        stream.width = WIDTH
        stream.height = HEIGHT
        stream.pix_fmt = "yuv420p"
        for i in range(FPS * DURATION_S):
            frame = av.VideoFrame.from_ndarray(render_frame(scene, background, i / FPS), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def scene_names() -> list[str]:
    """Names accepted by :func:`ensure_scene` and ``synthetic://`` URLs."""
    return sorted(SCENES)


def ensure_scene(name: str, data_dir: Path) -> Path:
    """Render scene ``name`` to ``data_dir/scenes/<name>.mp4`` unless it is already there.

    Blocking (a few seconds the first time): call it from a thread. Concurrent callers are
    safe: each writes its own temporary file and the rename is atomic.
    """
    scene = SCENES.get(name)
    if scene is None:
        raise ValueError(f"unknown synthetic scene {name!r} (known: {', '.join(scene_names())})")
    folder = Path(data_dir) / "scenes"
    path = folder / f"{name}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    log.info("scene %s: rendering %s", name, path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".mp4.tmp", dir=folder)
    os.close(fd)
    try:
        _encode(scene, Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
