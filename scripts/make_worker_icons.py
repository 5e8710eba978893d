"""Draw the worker app's icons (web/icons/worker-{192,512}.png) from the same shapes as worker.svg.

Run once after changing the design: ``.venv/bin/python scripts/make_worker_icons.py``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parent.parent / "web" / "icons"
BLUE_BGR = (0x91, 0x3D, 0x0B)
WHITE = (255, 255, 255)
YELLOW_BGR = (0x66, 0xD1, 0xFF)


def icon(size: int) -> np.ndarray:
    """The icon at ``size`` pixels square (drawn at 512 and scaled, so both sizes match)."""
    img = np.zeros((512, 512, 3), np.uint8)
    img[:] = BLUE_BGR
    cv2.circle(img, (256, 210), 92, WHITE, 36, cv2.LINE_AA)
    cv2.line(img, (256, 302), (256, 420), WHITE, 36, cv2.LINE_AA)
    cv2.circle(img, (256, 210), 30, YELLOW_BGR, -1, cv2.LINE_AA)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        cv2.imwrite(str(OUT / f"worker-{size}.png"), icon(size))


if __name__ == "__main__":
    main()
