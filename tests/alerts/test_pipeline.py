"""CameraAnalyzer end to end on synthetic frames, including the bad inputs of a live camera."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from alerts.config import ZoneConfig
from alerts.events import AlertType
from alerts.motion import Blob
from alerts.person import PersonDetector
from alerts.pipeline import CameraAnalyzer
from tests.alerts.scene import FPS, H, Scene, W, camera, still, walk


def lifecycle(a: CameraAnalyzer, frames: list[tuple[float, np.ndarray]]) -> list[tuple[str, str, float]]:
    return [(ev.type.value, ev.kind.value, ts) for ts, img in frames for ev in a.process(img, ts)]


def test_one_walk_is_one_alert_with_start_and_end() -> None:
    a = CameraAnalyzer(camera())
    scene = Scene()
    got = lifecycle(a, still(scene, 0, 3) + walk(scene, 3, 7, 10, 140) + still(scene, 7, 12))
    kinds = [(t, k) for t, k, _ in got if t != "alert.updated"]
    assert kinds == [("alert.started", "motion"), ("alert.ended", "motion")]
    started = next(ts for t, _, ts in got if t == "alert.started")
    ended = next(ts for t, _, ts in got if t == "alert.ended")
    assert 3.0 <= started <= 3.5 and 7.0 <= ended <= 9.5


def test_events_carry_camera_zone_score_and_one_alert_id() -> None:
    a = CameraAnalyzer(camera())
    scene = Scene()
    events = [
        ev
        for ts, img in still(scene, 0, 3) + walk(scene, 3, 7, 10, 140) + still(scene, 7, 12)
        for ev in a.process(img, ts)
    ]
    assert {ev.alert_id for ev in events} == {events[0].alert_id}
    start = events[0]
    assert start.type is AlertType.STARTED and start.camera == "cam1" and start.zone == "frame"
    assert 0 < start.score <= 1 and "box" in start.details
    assert start.to_data()["kind"] == "motion"


def test_resolution_change_mid_stream_resets_and_carries_on() -> None:
    a = CameraAnalyzer(camera())
    scene = Scene()
    big = Scene(w=320, h=180)
    lifecycle(a, still(scene, 0, 3))
    got = lifecycle(a, [(3 + i / FPS, big.frame()) for i in range(20)])
    assert a.resets == 1
    assert [k for t, k, _ in got if t == "alert.started"] == []
    got = lifecycle(a, walk(big, 7, 10, 20, 280, y=60))
    assert "motion" in [k for t, k, _ in got if t == "alert.started"]


def test_colour_and_odd_dtypes_are_accepted_and_garbage_is_refused() -> None:
    a = CameraAnalyzer(camera())
    scene = Scene()
    bgr = np.dstack([scene.frame()] * 3)
    assert a.process(bgr, 0.0) == []
    assert a.process(scene.frame().astype(np.float32), 0.2) == []
    with pytest.raises(TypeError):
        a.process(np.zeros((H, W, 7), np.uint8), 0.4)
    with pytest.raises(TypeError):
        a.process(np.zeros((0,), np.uint8), 0.6)


def test_a_jump_in_the_clock_resets_instead_of_alerting() -> None:
    a = CameraAnalyzer(camera())
    scene = Scene()
    lifecycle(a, still(scene, 0, 3))
    got = lifecycle(a, still(scene, 100, 103))
    assert a.resets == 1 and got == []


def test_signal_loss_alert_starts_and_ends() -> None:
    a = CameraAnalyzer(camera())
    started = a.signal_lost(True, 10.0, "stalled: no packets for 10 s")
    assert [e.kind.value for e in started] == ["tamper.signal_lost"]
    assert a.signal_lost(True, 11.0) == []
    ended = a.signal_lost(False, 15.0)
    assert [e.type for e in ended] == [AlertType.ENDED]


def starts_of(a: CameraAnalyzer, frames: list[tuple[float, np.ndarray]]) -> list[float]:
    return [ts for ts, img in frames for ev in a.process(img, ts) if ev.type is AlertType.STARTED]


def two_walks(scene: Scene) -> list[tuple[float, np.ndarray]]:
    """Two people walking through, 4 s apart: the first alert has ended before the second walk."""
    return still(scene, 0, 3) + walk(scene, 3, 5, 10, 140) + still(scene, 5, 9) + walk(scene, 9, 11, 140, 10)


def test_per_kind_cooldown_from_the_config() -> None:
    scene = Scene()
    frames = two_walks(scene)
    short = CameraAnalyzer(camera(cooldown_s=60.0, cooldowns={"motion": 0.0}), tamper=False)
    long = CameraAnalyzer(camera(cooldown_s=0.0, cooldowns={"motion": 60.0}), tamper=False)
    assert len(starts_of(short, frames)) == 2
    assert len(starts_of(long, frames)) == 1
    assert long.book.suppressed >= 1


def still_figure_then_walker(scene: Scene) -> list[tuple[float, np.ndarray]]:
    """Someone walks in and stands still at the left; 4 s later another walks in on the right."""
    out = still(scene, 0, 3)
    out += [(3 + i / FPS, scene.frame((10 + 4 * i, 30, 12, 40))) for i in range(5)]
    standing = (26, 30, 12, 40)
    out += [(4 + i / FPS, scene.frame(standing)) for i in range(20)]  # 4 s quite still
    for ts, _ in walk(scene, 8, 10, 150, 100):
        x = int(150 - (ts - 8) * 25)
        img = scene.frame(standing)
        img[30:70, x : x + 12] = 20
        out.append((ts, img))
    return out


def test_new_separate_motion_after_a_quiet_gap_is_a_new_alert() -> None:
    scene = Scene()
    a = CameraAnalyzer(camera(), tamper=False)
    events = [ev for ts, img in still_figure_then_walker(scene) for ev in a.process(img, ts)]
    started = [ev for ev in events if ev.type is AlertType.STARTED]
    assert len(started) == 2 and 8.0 <= started[1].ts <= 8.6
    split = [ev for ev in events if ev.type is AlertType.ENDED and ev.details.get("split")]
    assert [ev.alert_id for ev in split] == [started[0].alert_id]
    # Inside a long cool-down the same scene stays one alert.
    a = CameraAnalyzer(camera(cooldown_s=60.0), tamper=False)
    assert len(starts_of(a, still_figure_then_walker(scene))) == 1


def test_a_still_figure_that_walks_on_is_not_a_new_alert() -> None:
    scene = Scene()
    a = CameraAnalyzer(camera(), tamper=False)
    frames = still(scene, 0, 3) + [(3 + i / FPS, scene.frame((60, 30, 12, 40))) for i in range(20)]
    frames += walk(scene, 7, 9, 60, 140)
    assert len(starts_of(a, frames)) == 1


def test_tamper_settings_from_the_config() -> None:
    scene = Scene()
    frames = [(i / FPS, scene.frame()) for i in range(25)] + [
        (5 + i / FPS, np.full((H, W), 3, np.uint8)) for i in range(15)
    ]

    def kinds(a: CameraAnalyzer) -> list[str]:
        return [ev.kind.value for ts, img in frames for ev in a.process(img, ts) if ev.type is AlertType.STARTED]

    assert kinds(CameraAnalyzer(camera())) == ["tamper.covered"]
    assert kinds(CameraAnalyzer(camera(tamper={"enabled": False}))) == []
    assert kinds(CameraAnalyzer(camera(tamper={"covered_hold_s": 5.0}))) == []


def test_config_alert_kinds_are_the_analysis_kinds() -> None:
    from typing import get_args

    from alerts.config import AlertKindName
    from alerts.events import AlertKind

    assert set(get_args(AlertKindName)) == {k.value for k in AlertKind}


def motion_starts(a: CameraAnalyzer, frames: list[tuple[float, np.ndarray]]) -> list[float]:
    return [
        ts
        for ts, img in frames
        for ev in a.process(img, ts)
        if ev.type is AlertType.STARTED and ev.kind.value == "motion"
    ]


def walk_at(
    scene: Scene, fps: float, change: float, after: Callable[[float, np.ndarray], np.ndarray]
) -> list[tuple[float, np.ndarray]]:
    """One person walking across from 3 s to 13 s at ``fps``; frames from ``change`` on go through ``after``."""
    out = []
    for i in range(int(18 * fps)):
        ts = i / fps
        box = (int(10 + 130 * (ts - 3) / 10), 30, 12, 40) if 3 <= ts < 13 else None
        img = scene.frame(box)
        out.append((ts, after(ts, img) if ts >= change else img))
    return out


def test_one_walk_through_a_resolution_change_is_one_alert() -> None:
    # The camera switches to 320x180 mid-walk: the analysis starts afresh, the alert carries on.
    frames = walk_at(Scene(), FPS, 6.0, lambda _ts, img: cv2.resize(img, (2 * W, 2 * H)))
    a = CameraAnalyzer(camera(), tamper=False)
    assert len(motion_starts(a, frames)) == 1 and a.resets == 1


@pytest.mark.parametrize("fps", [1.0, 2.0, 5.0])
def test_one_walk_through_a_lights_step_is_one_alert(fps: float) -> None:
    frames = walk_at(Scene(), fps, 6.0, lambda _ts, img: cv2.convertScaleAbs(img, alpha=1.5))
    a = CameraAnalyzer(camera(fps=fps), tamper=False)
    assert len(motion_starts(a, frames)) == 1 and a.motion.recalibrations == 1


def test_one_walk_at_a_low_analysis_rate_is_one_alert() -> None:
    # At 0.5 fps consecutive frames are 2 s apart: longer than the split gap, but not a quiet gap.
    frames = walk_at(Scene(), 0.5, 99.0, lambda _ts, img: img)
    assert len(motion_starts(CameraAnalyzer(camera(fps=0.5), tamper=False), frames)) == 1


@pytest.mark.parametrize("tamper", [True, False])
def test_one_walk_through_a_covered_lens_is_one_alert(tamper: bool) -> None:
    # The lens is covered for 3 s mid-walk (a tamper alert when the checks are on), then the picture
    # comes back: a black picture says nothing about the scene, so the walk stays one alert.
    def covered(ts: float, img: np.ndarray) -> np.ndarray:
        return np.full_like(img, 3) if ts < 9.0 else img

    a = CameraAnalyzer(camera(), tamper=tamper)
    events = [ev for ts, img in walk_at(Scene(), FPS, 6.0, covered) for ev in a.process(img, ts)]
    started = [ev.kind.value for ev in events if ev.type is AlertType.STARTED]
    assert started == (["motion", "tamper.covered"] if tamper else ["motion"])


class ShapeOnlyDetector(PersonDetector):
    """Stands in for HOG: a person is upright (the regions together higher than 1.5 times their width)."""

    def confirm(self, gray: np.ndarray, blobs: list[Blob]) -> bool:
        if not blobs:
            return False
        w = max(b.x + b.w for b in blobs) - min(b.x for b in blobs)
        h = max(b.y + b.h for b in blobs) - min(b.y for b in blobs)
        return h >= 1.5 * w


def person_then(scene: Scene, second: tuple[int, int, int, int]) -> list[tuple[float, np.ndarray]]:
    """A person walks in and stands still; 4 s later ``second`` (w, h, y, x-start) moves on the right."""
    bw, bh, by, bx = second
    standing = (26, 30, 12, 40)
    out = still(scene, 0, 3)
    out += [(3 + i / FPS, scene.frame((10 + 4 * i, 30, 12, 40))) for i in range(5)]
    out += [(4 + i / FPS, scene.frame(standing)) for i in range(20)]
    for i in range(10):
        img = scene.frame(standing)
        x = bx - 5 * i
        img[by : by + bh, x : x + bw] = 20
        out.append((8 + i / FPS, img))
    return out


def test_in_a_person_check_zone_only_a_new_person_starts_a_new_alert() -> None:
    room = ZoneConfig(id="room", kind="intrusion", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)], person_check=True)

    def intrusions(frames: list[tuple[float, np.ndarray]]) -> int:
        a = CameraAnalyzer(camera([room]), tamper=False, person_detector=ShapeOnlyDetector("cam1"))
        return sum(1 for ts, img in frames for ev in a.process(img, ts) if ev.type is AlertType.STARTED)

    scene = Scene()
    assert intrusions(person_then(scene, (40, 12, 70, 110))) == 1  # a car-shaped region: not a new event
    assert intrusions(person_then(scene, (12, 40, 30, 140))) == 2  # a second person: a new alert


@pytest.mark.parametrize("outage_s", [3.0, 14.0])  # shorter and longer than a clock jump that resets
def test_an_outage_ends_the_open_alert_when_the_picture_stopped(outage_s: float) -> None:
    # Frames stop mid-walk and come back with the walker still there: the first alert ended when the
    # picture stopped, and is not stretched across the outage (nor held open by the frames settling
    # after a reset); what is seen after it is a new alert.
    a = CameraAnalyzer(camera(), tamper=False)
    scene = Scene()
    before = still(scene, 0, 3) + walk(scene, 3, 6, 10, 70)
    events = [ev for ts, img in before for ev in a.process(img, ts)]
    first = next(ev for ev in events if ev.type is AlertType.STARTED)
    last_ts = before[-1][0]
    back = walk(scene, last_ts + outage_s, last_ts + outage_s + 4, 70, 140)
    events = [(ts, ev) for ts, img in back for ev in a.process(img, ts)]
    ended = [ev for _, ev in events if ev.type is AlertType.ENDED]
    assert ended and ended[0].alert_id == first.alert_id and events[0][0] == back[0][0]  # on the first frame back
    assert ended[0].ts == last_ts and ended[0].details["no_frames"] is True
    assert ended[0].details["duration_s"] == round(last_ts - first.ts, 2)
    again = [ev for _, ev in events if ev.type is AlertType.STARTED]
    assert len(again) == 1 and again[0].alert_id != first.alert_id and again[0].ts >= back[0][0]


def test_frames_a_low_analysis_rate_apart_are_no_outage() -> None:
    # At 0.5 fps frames are 2 s apart, longer than the end grace: the walk is still one alert.
    scene = Scene()
    frames = []
    for i in range(16):  # 10 s still, a walk across for 10 s, 12 s still
        ts = 2.0 * i
        box = (int(10 + 13 * (ts - 10)), 30, 12, 40) if 10 <= ts < 20 else None
        frames.append((ts, scene.frame(box)))
    a = CameraAnalyzer(camera(fps=0.5), tamper=False)
    events = [ev for ts, img in frames for ev in a.process(img, ts)]
    assert [ev.type for ev in events if ev.type is not AlertType.UPDATED] == [AlertType.STARTED, AlertType.ENDED]
    assert "no_frames" not in events[-1].details and events[-1].ts >= 20.0


def test_a_gap_in_analysis_while_frames_kept_coming_is_no_outage() -> None:
    # The analysis was busy for 3 s (a loaded host: publishing an alert's evidence took that long)
    # while the camera's frames kept arriving and were replaced in the slot: the walker is one
    # alert, not one cut at the gap with "no frames" and a new one after it.
    a = CameraAnalyzer(camera(), tamper=False)
    scene = Scene()
    before = still(scene, 0, 3) + walk(scene, 3, 6, 10, 70)
    events = [ev for ts, img in before for ev in a.process(img, ts)]
    last_ts = before[-1][0]
    back = walk(scene, last_ts + 3.0, last_ts + 7.0, 70, 140)
    events += [ev for i, (ts, img) in enumerate(back) for ev in a.process(img, ts, skipped=12 if i == 0 else 0)]
    starts = [ev for ev in events if ev.type is AlertType.STARTED]
    assert len(starts) == 1
    assert not [ev for ev in events if ev.type is AlertType.ENDED and ev.details.get("no_frames")]
