"""Person check: OpenCV's built-in HOG people detector, run only on motion regions.

The HOG model ships inside OpenCV (``cv2.HOGDescriptor_getDefaultPeopleDetector``), nothing to
download. OpenCV 5 moved ``HOGDescriptor`` to the contrib module ``xobjdetect``
(``opencv-contrib-python-headless``); with a build that has neither, :attr:`PersonDetector.available`
is False and the check falls back to the region's shape (upright, not a speck), with a warning, so an
intrusion is never silently dropped.

The window is 64x128 pixels, larger than a person on a 160x90 analysis frame, so each moving
region is cut out with a margin and scaled up until a standing person would fill the window, then
scanned at a few scales only. A region too wide for its height (a car, a shadow on the ground)
costs nothing: it is refused before HOG runs.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from alerts.motion import Blob

log = logging.getLogger(__name__)


def _hog_factory() -> tuple[Any, Any] | None:
    """(HOGDescriptor class, default people detector getter) of this OpenCV build, if it has them."""
    for module in (cv2, getattr(cv2, "xobjdetect", None)):
        cls = getattr(module, "HOGDescriptor", None) if module is not None else None
        if cls is None:
            continue
        getter = getattr(cls, "getDefaultPeopleDetector", None) or getattr(
            module, "HOGDescriptor_getDefaultPeopleDetector", None
        )
        if getter is not None:
            return cls, getter
    return None


WINDOW_H = 128
"""Height of the HOG detection window."""
PERSON_H = 100.0
"""Height a moving region is scaled to: a person's height inside the HOG window."""
BORDER_PX = 16
"""Margin added around a region before scanning."""
MAX_ASPECT = 1.5
"""Regions wider than this times their height are not people standing or walking."""
MIN_HEIGHT_PX = 12
"""Regions lower than this (analysis pixels) are too small to judge."""
MAX_REGIONS = 4
"""Most regions checked per frame; the largest first."""
HIT_THRESHOLD = 0.0
"""SVM margin a window needs to count as a person."""


def plausible(blob: Blob) -> bool:
    """Whether a moving region has the shape of a standing or walking person (not a car, not a speck)."""
    return blob.h >= MIN_HEIGHT_PX and blob.w <= MAX_ASPECT * blob.h


def union(blobs: list[Blob]) -> Blob:
    """The bounding box of several blobs as one blob."""
    x0 = min(b.x for b in blobs)
    y0 = min(b.y for b in blobs)
    x1 = max(b.x + b.w for b in blobs)
    y1 = max(b.y + b.h for b in blobs)
    return Blob(x0, y0, x1 - x0, y1 - y0, sum(b.area for b in blobs))


class PersonDetector:
    """Tells whether moving regions of a small gray frame contain a person."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._hog: Any = None
        factory = _hog_factory()
        if factory is not None:
            cls, getter = factory
            self._hog = cls()
            self._hog.setSVMDetector(getter())
        else:
            log.warning(
                "camera %s: this OpenCV (%s) has no HOG people detector (OpenCV 5 moved it to "
                "opencv-contrib); zones with person_check alert on motion alone",
                camera_id,
                cv2.__version__,
            )
        self.checks = 0
        """Regions scanned so far."""
        self.confirmed = 0
        """Regions HOG took for a person."""
        self.unchecked = 0
        """Regions let through unchecked because HOG is not available."""

    @property
    def available(self) -> bool:
        """Whether this OpenCV build has the HOG people detector."""
        return self._hog is not None

    def region(self, gray: np.ndarray, blob: Blob) -> np.ndarray | None:
        """The blob cut out with a margin and scaled for HOG, or None when it cannot be a person."""
        if not plausible(blob):
            return None
        h, w = gray.shape[:2]
        # In the 64x128 window a person is about 96 pixels tall; leave room around the region.
        scale = PERSON_H / blob.h
        box_h = int(blob.h * 1.6) + 2
        box_w = max(int(box_h / 2), int(blob.w * 1.4) + 4)
        cx, cy = blob.x + blob.w // 2, blob.y + blob.h // 2
        x0, y0 = max(0, cx - box_w // 2), max(0, cy - box_h // 2)
        x1, y1 = min(w, x0 + box_w), min(h, y0 + box_h)
        crop = gray[y0:y1, x0:x1]
        if crop.shape[0] < MIN_HEIGHT_PX or crop.shape[1] < 4:
            return None
        height = max(WINDOW_H + 8, int(round(crop.shape[0] * scale)))
        width = max(72, int(round(crop.shape[1] * scale)))
        roi = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        # The detector was trained with a margin around people; a head at the frame's edge has none.
        return cv2.copyMakeBorder(roi, BORDER_PX, BORDER_PX, BORDER_PX // 2, BORDER_PX // 2, cv2.BORDER_REPLICATE)

    def is_person(self, gray: np.ndarray, blob: Blob) -> bool:
        """Whether HOG finds a person in this moving region."""
        roi = self.region(gray, blob)
        if roi is None:
            return False
        self.checks += 1
        rects, _weights = self._hog.detectMultiScale(
            roi, hitThreshold=HIT_THRESHOLD, winStride=(8, 8), padding=(8, 8), scale=1.1
        )
        found = len(rects) > 0
        self.confirmed += found
        return found

    def confirm(self, gray: np.ndarray, blobs: list[Blob]) -> bool:
        """Whether any of the (largest few) moving regions holds a person."""
        if self._hog is None:
            # Without HOG only the shape can be judged: standing or walking, not lying flat.
            self.unchecked += 1
            return any(plausible(b) for b in blobs) or (len(blobs) > 1 and plausible(union(blobs)))
        candidates = sorted(blobs, key=lambda b: b.area, reverse=True)[:MAX_REGIONS]
        if len(blobs) > 1:
            # A person is often split in pieces (legs apart from the body): try the pieces together.
            candidates.insert(0, union(blobs))
        for blob in candidates:
            if self.is_person(gray, blob):
                return True
        return False
