"""Zone geometry: normalised polygons to pixel masks, and line-crossing tests.

Config gives points in 0..1 of the frame; the analysis works in pixels of the small frame. Bad
geometry is refused here with a clear message, before any frame is analysed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]

MIN_ZONE_AREA = 1e-4
"""Smallest zone polygon area, as a share of the frame (1 % by 1 %); less is a line or a point."""

MIN_MASK_PX = 4
"""Fewest analysis pixels a polygon must cover to be a zone at all."""


def polygon_area(points: Sequence[Point]) -> float:
    """Area enclosed by a polygon (shoelace formula), in the points' units squared.

    Sides that cross cancel: a bow tie drawn by putting two corners in the wrong order has none.
    """
    pts = list(points)
    twice = 0.0
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2.0


class ZoneError(ValueError):
    """A zone or mask that cannot be used on this camera's analysis frame."""


def to_pixels(points: Sequence[Point], width: int, height: int) -> np.ndarray:
    """Normalised (x, y) points as an ``N x 2`` int32 array of pixel coordinates."""
    out = []
    for x, y in points:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ZoneError(f"point ({x}, {y}) is outside the frame (coordinates are 0..1)")
        out.append((round(x * (width - 1)), round(y * (height - 1))))
    return np.array(out, np.int32)


def polygon_mask(zone_id: str, points: Sequence[Point], width: int, height: int) -> np.ndarray:
    """A ``height x width`` 0/255 mask of the polygon; refuses fewer than 3 points or no area."""
    if len(points) < 3:
        raise ZoneError(f"zone {zone_id}: a polygon needs at least 3 points, got {len(points)}")
    try:
        pts = to_pixels(points, width, height)
    except ZoneError as exc:
        raise ZoneError(f"zone {zone_id}: {exc}") from None
    import cv2  # here: the config's geometry checks import this module, and stay light without zones

    area = polygon_area([(float(x), float(y)) for x, y in points])
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [pts], 255)
    if area < MIN_ZONE_AREA or cv2.countNonZero(mask) < MIN_MASK_PX:
        raise ZoneError(f"zone {zone_id}: the polygon has no area at {width}x{height}")
    return mask


def line_ends(zone_id: str, points: Sequence[Point], width: int, height: int) -> tuple[Point, Point]:
    """The two ends of a line zone in analysis pixels; refuses ends that fall on one pixel."""
    if len(points) != 2:
        raise ZoneError(f"zone {zone_id}: a line zone takes exactly 2 points, got {len(points)}")
    try:
        pts = to_pixels(points, width, height)
    except ZoneError as exc:
        raise ZoneError(f"zone {zone_id}: {exc}") from None
    a = (float(pts[0][0]), float(pts[0][1]))
    b = (float(pts[1][0]), float(pts[1][1]))
    if a == b:
        raise ZoneError(
            f"zone {zone_id}: the two points of the line fall on the same pixel of the {width}x{height} "
            "analysis frame; it has no length"
        )
    return a, b


def ignore_mask_from(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A user's ignore mask (non-zero = ignore) fitted to the analysis frame.

    The mask is stretched to the analysis size whatever its shape, exactly as the camera's frames
    are (a 4:3 camera's picture is stretched to a 16:9 analysis frame too), so a mask drawn on a
    snapshot of the camera covers the same things. Anything but a 2-D image is refused.
    """
    if mask.ndim != 2 or mask.size == 0:
        raise ZoneError(f"an ignore mask must be a 2-D image, got shape {mask.shape}")
    h, w = mask.shape
    if (w, h) != (width, height):
        import cv2

        mask = cv2.resize(mask.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST)
    return np.where(mask > 0, 255, 0).astype(np.uint8)


def side_of(a: Point, b: Point, p: Point) -> float:
    """Signed area: > 0 when ``p`` is left of the directed line a→b (image coordinates)."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def segments_cross(a: Point, b: Point, p: Point, q: Point) -> bool:
    """Whether segment p→q crosses segment a→b (touching an end counts)."""
    d1, d2 = side_of(a, b, p), side_of(a, b, q)
    d3, d4 = side_of(p, q, a), side_of(p, q, b)
    return d1 * d2 <= 0 and d3 * d4 <= 0 and (d1 != 0 or d2 != 0)


def crossing_direction(p: Point, q: Point) -> str:
    """The dominant direction of a move p→q: ``left_to_right``, ``right_to_left``, ``up`` or ``down``."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    if abs(dx) >= abs(dy):
        return "left_to_right" if dx > 0 else "right_to_left"
    return "down" if dy > 0 else "up"
