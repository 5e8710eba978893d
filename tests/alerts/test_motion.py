"""Motion detector: blobs for movers, nothing for lighting changes, noise or ignored areas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alerts.motion import MotionDetector
from tests.alerts.scene import H, Scene, W


def run(det: MotionDetector, frames: list[np.ndarray]) -> list[int]:
    return [len(det.process(f).blobs) for f in frames]


def test_a_moving_figure_is_a_blob_and_a_still_scene_is_not() -> None:
    scene = Scene()
    det = MotionDetector("cam", W, H)
    assert sum(run(det, [scene.frame() for _ in range(15)])) == 0
    result = det.process(scene.frame((70, 10, 12, 40)))
    assert len(result.blobs) == 1
    b = result.blobs[0]
    assert 60 <= b.x <= 72 and 10 <= b.w <= 24 and 36 <= b.h <= 52


def test_a_person_standing_still_stays_foreground() -> None:
    # Surveillance needs presence, not only movement: a loiterer must not melt into the background.
    scene = Scene()
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame() for _ in range(10)])
    counts = run(det, [scene.frame((70, 10, 12, 40)) for _ in range(150)])  # 30 s at 5 fps
    assert all(c == 1 for c in counts)
    # And once gone, no ghost is left behind.
    after = run(det, [scene.frame() for _ in range(5)])
    assert after[-1] == 0


@pytest.mark.parametrize("gain,offset", [(1.5, 20.0), (0.5, 0.0)])
def test_a_brightness_step_recalibrates_instead_of_reporting_motion(gain: float, offset: float) -> None:
    scene = Scene()
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame() for _ in range(10)])
    stepped = [cv2.convertScaleAbs(scene.frame(), alpha=gain, beta=offset) for _ in range(15)]
    assert sum(run(det, stepped)) == 0
    assert det.recalibrations >= 1


def test_a_slow_ramp_to_dark_raises_nothing() -> None:
    scene = Scene()
    det = MotionDetector("cam", W, H)
    frames = [cv2.convertScaleAbs(scene.frame(), alpha=1.0 - 0.6 * i / 60) for i in range(80)]
    assert sum(run(det, frames)) == 0


def test_heavy_sensor_noise_raises_nothing() -> None:
    scene = Scene(noise=2.0)
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame() for _ in range(10)])
    scene.noise = 10.0
    assert sum(run(det, [scene.frame() for _ in range(30)])) == 0


def test_ignore_mask_hides_motion_in_its_area() -> None:
    scene = Scene()
    mask = np.zeros((H, W), np.uint8)
    mask[:, 60:100] = 255
    det = MotionDetector("cam", W, H, ignore_mask=mask)
    run(det, [scene.frame() for _ in range(10)])
    assert len(det.process(scene.frame((70, 10, 12, 40))).blobs) == 0
    assert len(det.process(scene.frame((120, 10, 12, 40))).blobs) == 1


def test_small_specks_are_below_the_minimum_area() -> None:
    scene = Scene()
    det = MotionDetector("cam", W, H, min_area_fraction=0.01)
    run(det, [scene.frame() for _ in range(10)])
    assert len(det.process(scene.frame((70, 30, 3, 3))).blobs) == 0


def test_flat_frames_are_flagged_and_do_not_crash() -> None:
    det = MotionDetector("cam", W, H)
    for value in (0, 255, 0):
        result = det.process(np.full((H, W), value, np.uint8))
        assert result.flat and not result.blobs


def test_a_mask_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(ValueError, match="ignore mask"):
        MotionDetector("cam", W, H, ignore_mask=np.zeros((H * 2, W * 2), np.uint8))


def test_the_hole_a_removed_object_leaves_is_absorbed_soon() -> None:
    # The background is learnt with an object in view; when it is taken away, its "ghost" must not
    # stay foreground (and hold an alert open) for minutes.
    scene = Scene()
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame((70, 10, 12, 40), value=230) for _ in range(10)])
    after = run(det, [scene.frame() for _ in range(20)])  # 4 s at 5 fps
    assert after[0] == 1 and det.ghosts >= 1
    assert after[-5:] == [0] * 5


def test_moving_and_fresh_pixels_tell_new_activity_from_what_was_there() -> None:
    scene = Scene()
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame() for _ in range(10)])
    det.process(scene.frame((20, 30, 12, 40)))
    first = det.process(scene.frame((24, 30, 12, 40)))
    assert first.moving_px > 0 and first.fresh_px < first.moving_px  # the figure moved a little
    img = scene.frame((24, 30, 12, 40))
    img[30:70, 120:132] = 20  # someone else appears far away
    second = det.process(img)
    assert second.fresh is not None and second.fresh_px >= 0.5 * second.moving_px
    assert int(np.count_nonzero(second.fresh[:, 100:])) == second.fresh_px


def test_after_a_reset_nothing_in_view_counts_as_new_activity_until_judged_once() -> None:
    # After a reset there is no previous foreground: a figure already moving must not be "new".
    scene = Scene()
    det = MotionDetector("cam", W, H)
    run(det, [scene.frame() for _ in range(10)])
    det.process(scene.frame((20, 30, 12, 40)))
    det.reset()
    results = [det.process(scene.frame((24 + 4 * i, 30, 12, 40))) for i in range(6)]
    judged = [r for r in results if not r.settling]
    assert judged and judged[0].moving_px > 0 and judged[0].fresh is None and judged[0].fresh_px == 0
    assert judged[1].moving_px > 0 and judged[1].fresh_px < judged[1].moving_px
