"""Zone rules and geometry: intrusion, loitering, crowd, line crossing, and bad zones refused."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from alerts.config import ZoneConfig
from alerts.events import AlertKind, AlertType
from alerts.geometry import ZoneError, ignore_mask_from, polygon_mask
from alerts.lifecycle import QUIET_S
from alerts.motion import Blob, MotionResult
from alerts.pipeline import CameraAnalyzer
from alerts.zones import PRESENCE_GAP_S, IntrusionRule
from tests.alerts.scene import H, Scene, W, camera, still, walk

RIGHT_HALF = [(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]


def starts(analyzer: CameraAnalyzer, frames: list[tuple[float, np.ndarray]]) -> list[tuple[str, str, float]]:
    out = []
    for ts, img in frames:
        for ev in analyzer.process(img, ts):
            if ev.type is AlertType.STARTED:
                out.append((ev.kind.value, ev.zone, ts))
    return out


def test_intrusion_only_inside_the_zone_and_after_min_frames() -> None:
    zone = ZoneConfig(id="gate", kind="intrusion", polygon=RIGHT_HALF, min_frames=3)
    a = CameraAnalyzer(camera([zone]), tamper=False)
    scene = Scene()
    frames = still(scene, 0, 3) + walk(scene, 3, 6, 10, 60) + walk(scene, 6, 9, 90, 140)
    got = starts(a, frames)
    assert [(k, z) for k, z, _ in got] == [("intrusion", "gate")]
    assert 6.0 + 0.4 - 1e-6 <= got[0][2] <= 6.6  # the third frame inside


def test_loitering_after_the_dwell_time() -> None:
    zone = ZoneConfig(id="door", kind="loitering", polygon=RIGHT_HALF, dwell_s=5.0)
    a = CameraAnalyzer(camera([zone]), tamper=False)
    scene = Scene()
    frames = still(scene, 0, 3) + [(3 + i / 5, scene.frame((110 + (i % 3), 30, 12, 40))) for i in range(50)]
    got = starts(a, frames)
    assert [(k, z) for k, z, _ in got] == [("loitering", "door")]
    assert 8.0 - 1e-6 <= got[0][2] <= 8.6


def test_crowd_when_occupied_share_lasts() -> None:
    zone = ZoneConfig(id="square", kind="crowd", polygon=RIGHT_HALF, occupied_fraction=0.3, duration_s=2.0)
    a = CameraAnalyzer(camera([zone]), tamper=False)
    scene = Scene()
    few = [(3 + i / 5, scene.frame((100, 30, 12, 40))) for i in range(20)]  # ~7 % of the zone
    crowd = [(7 + i / 5, scene.frame((85, 10, 70, 75))) for i in range(20)]  # ~70 %
    got = starts(a, still(scene, 0, 3) + few + crowd)
    assert [(k, z) for k, z, _ in got] == [("crowd", "square")]
    assert 9.0 - 1e-6 <= got[0][2] <= 9.6


@pytest.mark.parametrize(
    "direction,x0,x1,expected",
    [("left_to_right", 20, 140, 1), ("left_to_right", 140, 20, 0), ("right_to_left", 140, 20, 1), ("any", 140, 20, 1)],
)
def test_line_crossing_with_direction(direction: str, x0: int, x1: int, expected: int) -> None:
    line = ZoneConfig(id="fence", kind="line", polygon=[(0.5, 0.0), (0.5, 1.0)], direction=direction)  # type: ignore[arg-type]
    a = CameraAnalyzer(camera([line]), tamper=False)
    scene = Scene()
    got = starts(a, still(scene, 0, 3) + walk(scene, 3, 8, x0, x1))
    assert len([g for g in got if g[0] == AlertKind.LINE_CROSSING]) == expected


def test_ignore_zone_masks_motion() -> None:
    ignore = ZoneConfig(id="tree", kind="ignore", polygon=RIGHT_HALF)
    scene = Scene()
    frames = still(scene, 0, 3) + walk(scene, 3, 8, 100, 140)
    assert starts(CameraAnalyzer(camera([ignore]), tamper=False), frames) == []
    # The control: the same walk without the mask does alert.
    assert [k for k, _, _ in starts(CameraAnalyzer(camera(), tamper=False), frames)] == ["motion"]


def test_a_loiterer_hidden_for_less_than_the_bridged_gap_keeps_one_alert() -> None:
    # The dwell timer bridges gaps up to PRESENCE_GAP_S; the alert must not end inside such a gap, or
    # the 30 s loitering cool-down would keep the still-present loiterer from alerting again.
    zone = ZoneConfig(id="door", kind="loitering", polygon=RIGHT_HALF, dwell_s=3.0)
    a = CameraAnalyzer(camera([zone], cooldown_s=30.0), tamper=False)
    scene = Scene()

    def loiter(t0: float, n: int) -> list[tuple[float, np.ndarray]]:
        return [(t0 + i / 5, scene.frame((110 + (i % 3), 30, 12, 40))) for i in range(n)]

    hidden = 1.8  # occluded: longer than the 1.5 s grace of other kinds, inside the 2 s bridge
    assert QUIET_S < hidden < PRESENCE_GAP_S
    frames = still(scene, 0, 3) + loiter(3.0, 30) + still(scene, 9.0, 9.0 + hidden) + loiter(9.0 + hidden, 30)
    events = [ev for ts, img in frames for ev in a.process(img, ts)]
    kinds = [(ev.type, ev.kind) for ev in events if ev.type is not AlertType.UPDATED]
    assert kinds == [(AlertType.STARTED, AlertKind.LOITERING)], kinds
    # Gone for good: the alert does end, once the bridged gap has passed.
    ended = [ev for ts, img in still(scene, 16.8, 20.0) for ev in a.process(img, ts)]
    assert [ev.type for ev in ended] == [AlertType.ENDED]
    assert 16.6 + PRESENCE_GAP_S - 1e-6 <= ended[0].ts <= 16.6 + PRESENCE_GAP_S + 0.2 + 1e-6


def test_no_zones_means_whole_frame_motion() -> None:
    a = CameraAnalyzer(camera(), tamper=False)
    scene = Scene()
    got = starts(a, still(scene, 0, 3) + walk(scene, 3, 6, 20, 140))
    assert [(k, z) for k, z, _ in got] == [("motion", "frame")]


def test_bad_zones_are_refused_at_config_time() -> None:
    with pytest.raises(ValidationError, match="at least 3 points"):
        ZoneConfig(id="z", kind="intrusion", polygon=[(0.1, 0.1), (0.2, 0.2)])
    with pytest.raises(ValidationError):
        ZoneConfig(id="z", kind="intrusion", polygon=[(0.1, 0.1), (1.5, 0.2), (0.3, 0.9)])
    with pytest.raises(ZoneError, match="no area"):
        polygon_mask("flat", [(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)], W, H)
    with pytest.raises(ZoneError, match="outside the frame"):
        polygon_mask("out", [(0.1, 0.1), (1.2, 0.5), (0.9, 0.9)], W, H)


@pytest.mark.parametrize(
    "points",
    [
        [(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)],  # collinear
        [(0.1, 0.1), (0.5, 0.5001), (0.9, 0.9)],  # nearly so
        [(0.2, 0.2), (0.2, 0.2), (0.2, 0.2), (0.2, 0.2)],  # one point
        [(0.0, 0.0), (1.0, 1.0), (1.0, 0.0), (0.0, 1.0)],  # a bow tie: its halves cancel
    ],
)
def test_a_polygon_without_area_is_refused_at_config_time(points: list[tuple[float, float]]) -> None:
    # Before, this passed the config and the camera's analysis crashed (and restarted) forever.
    with pytest.raises(ValidationError, match="zone flat: the polygon has \\(almost\\) no area"):
        ZoneConfig(id="flat", kind="intrusion", polygon=points)


def test_a_zone_too_small_for_the_analysis_frame_is_refused_with_the_camera() -> None:
    speck = ZoneConfig(id="speck", kind="intrusion", polygon=[(0.5, 0.5), (0.52, 0.5), (0.52, 0.52), (0.5, 0.52)])
    with pytest.raises(ValidationError, match="zone speck: covers 12 pixels of the 160x90 analysis frame"):
        camera([speck])
    # It could never alert: even a figure filling it is less than the smallest moving region.
    cam = camera([speck], min_area_fraction=0.0005)
    a = CameraAnalyzer(cam, tamper=False)
    scene = Scene()
    assert [k for k, _, _ in starts(a, still(scene, 0, 3) + walk(scene, 3, 6, 70, 90, y=35))] == ["intrusion"]
    # An ignore zone that small is fine: it masks a blinking light.
    assert camera([speck.model_copy(update={"kind": "ignore"})]).zones


def test_a_line_whose_ends_meet_is_refused_at_config_time() -> None:
    with pytest.raises(ValidationError, match="zone trip: the two points of a line zone coincide"):
        ZoneConfig(id="trip", kind="line", polygon=[(0.3, 0.4), (0.3, 0.4)])
    # Apart in 0..1, but on the same pixel of the 160x90 analysis frame.
    short = ZoneConfig(id="trip", kind="line", polygon=[(0.5, 0.5), (0.502, 0.5)])
    with pytest.raises(ValidationError, match="zone trip: the two points of the line fall on the same pixel"):
        camera([short])


def test_ignore_masks_are_stretched_to_the_frame_like_the_picture() -> None:
    assert ignore_mask_from(np.ones((180, 320), np.uint8), W, H).shape == (H, W)
    # Drawn on a 4:3 snapshot: stretched as the camera's frames are, the right half stays the right half.
    four_three = np.zeros((480, 640), np.uint8)
    four_three[:, 320:] = 255
    fitted = ignore_mask_from(four_three, W, H)
    assert fitted.shape == (H, W) and fitted[:, W // 2 :].all() and not fitted[:, : W // 2].any()
    with pytest.raises(ZoneError, match="2-D"):
        ignore_mask_from(np.ones((H, W, 3), np.uint8), W, H)
    with pytest.raises(ZoneError):
        CameraAnalyzer(camera(), extra_ignore=np.ones((500, 200, 3), np.uint8))


def _mask_file(path: Path, w: int, h: int, white_from_x: float | None) -> Path:
    img = np.zeros((h, w), np.uint8)
    if white_from_x is not None:
        img[:, int(white_from_x * w) :] = 255
    ok, data = cv2.imencode(path.suffix, img)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def test_an_ignore_mask_image_hides_motion_in_its_white_area(tmp_path: Path) -> None:
    # Drawn on a full-size snapshot (1280x720, JPEG): scaled to the analysis frame; white = ignore.
    mask = _mask_file(tmp_path / "mask.jpg", 1280, 720, white_from_x=0.5)
    scene = Scene()
    right = still(scene, 0, 3) + walk(scene, 3, 6, 100, 140)
    left = still(scene, 0, 3) + walk(scene, 3, 6, 10, 50)
    masked = CameraAnalyzer(camera(ignore_mask=mask), tamper=False)
    assert starts(masked, right) == []
    assert [k for k, _, _ in starts(CameraAnalyzer(camera(ignore_mask=mask), tamper=False), left)] == ["motion"]
    assert [k for k, _, _ in starts(CameraAnalyzer(camera(), tamper=False), right)] == ["motion"]


def test_a_bad_ignore_mask_image_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        camera(ignore_mask=tmp_path / "missing.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(ValidationError, match="junk.png: not a PNG or JPEG"):
        camera(ignore_mask=junk)
    huge = _mask_file(tmp_path / "huge.png", 16000, 9000, white_from_x=None)
    with pytest.raises(ValidationError, match="larger than any camera picture"):
        camera(ignore_mask=huge)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (21 * 1024 * 1024))  # refused by its size, before decoding
    with pytest.raises(ValidationError, match="MB is larger than any mask"):
        camera(ignore_mask=big)


def test_a_mask_drawn_on_a_4_3_camera_snapshot_hides_its_white_area(tmp_path: Path) -> None:
    mask = _mask_file(tmp_path / "square.png", 640, 480, white_from_x=0.5)
    scene = Scene()
    right = still(scene, 0, 3) + walk(scene, 3, 6, 100, 140)
    left = still(scene, 0, 3) + walk(scene, 3, 6, 10, 50)
    assert starts(CameraAnalyzer(camera(ignore_mask=mask), tamper=False), right) == []
    assert [k for k, _, _ in starts(CameraAnalyzer(camera(ignore_mask=mask), tamper=False), left)] == ["motion"]


def _activity(x: int) -> MotionResult:
    """A motion result with a 12x40 figure at ``x`` that is all moving and all new ground."""
    mask = np.zeros((H, W), np.uint8)
    mask[30:70, x : x + 12] = 255
    return MotionResult(mask, [Blob(x, 30, 12, 40, 480.0)], moving=mask, moving_px=480, fresh=mask, fresh_px=480)


def test_the_quiet_gap_is_not_counted_while_the_picture_tells_nothing() -> None:
    zone = ZoneConfig(id="frame", kind="intrusion", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)])
    rule = IntrusionRule("cam1", zone, W, H, 20.0, fps=2.0)
    # No known past (the analysis just started or was reset): no gap was seen, nothing to split.
    assert rule.renewal(_activity(20), 0.0) is None
    # Activity, then 2 s of frames with no news (motion recalibrating): not a quiet gap.
    assert rule.renewal(_activity(30), 0.5) is None
    for ts in (1.0, 1.5, 2.0, 2.5):
        rule.hold(ts)
    assert rule.renewal(_activity(100), 3.0) is None
    # A real quiet gap of judged frames with nothing moving does split.
    quiet = MotionResult(np.zeros((H, W), np.uint8), [])
    for ts in (3.5, 4.0, 4.5, 5.0):
        assert rule.renewal(quiet, ts) is None
    assert rule.renewal(_activity(40), 5.5) == 3.0
