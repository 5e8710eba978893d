"""Person check: regions cut for HOG, shapes refused before HOG, the no-HOG fallback, and HOG on real
footage telling people walking into a room from cars on a road."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alerts.config import AnalysisConfig, ZoneConfig
from alerts.evaluation import WHOLE_FRAME, decode, load_labels
from alerts.events import AlertEvent, AlertKind, AlertType
from alerts.motion import Blob
from alerts.person import PERSON_H, PersonDetector, union
from alerts.pipeline import CameraAnalyzer
from hub.config import CameraConfig
from tests.alerts.scene import Scene, camera, still, walk
from tests.conftest import SHARED_MEDIA, require, require_shared_media

LABELS = Path(__file__).with_name("labels.json")
PEOPLE = "one-by-one-person-detection.mp4"
CARS = "car-detection.mp4"
MATCH_S = 1.0
"""How far outside a labelled event an alert start may fall and still belong to it (as the evaluation)."""


def test_regions_are_scaled_so_a_person_fits_the_hog_window() -> None:
    det = PersonDetector("cam")
    gray = Scene().frame()
    roi = det.region(gray, Blob(70, 20, 14, 40, 500.0))
    assert roi is not None and roi.shape[0] >= 128 + 16 and roi.shape[1] >= 64
    # The person (40 px here) becomes about PERSON_H pixels tall.
    assert abs(roi.shape[0] - 32 - int(40 * 1.6 + 2) * PERSON_H / 40) <= 4


def test_wide_or_tiny_regions_are_refused_without_running_hog() -> None:
    det = PersonDetector("cam")
    gray = Scene().frame()
    assert det.region(gray, Blob(10, 50, 60, 20, 1000.0)) is None  # a car: wider than tall
    assert det.region(gray, Blob(10, 50, 4, 6, 20.0)) is None  # a speck
    assert det.checks == 0


def test_union_of_pieces() -> None:
    u = union([Blob(10, 10, 5, 5, 20.0), Blob(12, 30, 6, 10, 40.0)])
    assert (u.x, u.y, u.w, u.h, u.area) == (10, 10, 8, 30, 60.0)


def test_a_zone_with_person_check_still_alerts_when_hog_is_missing() -> None:
    # OpenCV 5 builds without contrib have no HOG: the zone must then fall back to the region's
    # shape, never go silent. Stands in for such a build whatever this one has.
    zone = ZoneConfig(id="gate", kind="intrusion", polygon=WHOLE_FRAME, person_check=True)
    no_hog = PersonDetector("cam1")
    no_hog._hog = None
    assert not no_hog.available
    a = CameraAnalyzer(camera([zone]), tamper=False, person_detector=no_hog)
    scene = Scene()
    kinds = [ev.kind.value for ts, img in still(scene, 0, 3) + walk(scene, 3, 6, 10, 140) for ev in a.process(img, ts)]
    assert kinds[:1] == ["intrusion"] and no_hog.unchecked > 0 and no_hog.checks == 0


def test_hog_does_not_take_a_car_shaped_region_for_a_person() -> None:
    det = PersonDetector("cam")
    gray = np.full((90, 160), 120, np.uint8)
    gray[40:60, 20:90] = 30
    assert det.confirm(gray, [Blob(20, 40, 70, 20, 1400.0)]) is False


def _intrusions_on(name: str, end_s: float, person_check: bool) -> tuple[list[AlertEvent], CameraAnalyzer]:
    """Intrusion alert starts of a whole-frame zone (default intrusion settings, default analysis size)
    on the first ``end_s`` seconds of a real clip, and the analyzer."""
    require_shared_media()
    analysis = AnalysisConfig()
    zone = ZoneConfig(id="room", kind="intrusion", polygon=WHOLE_FRAME, person_check=person_check)
    analyzer = CameraAnalyzer(CameraConfig(id="clip", url="file:///dev/null", zones=[zone], analysis=analysis))
    events = [ev for ts, g in decode(SHARED_MEDIA / name, analysis, end_s) for ev in analyzer.process(g, ts)]
    starts = [ev for ev in events if ev.type is AlertType.STARTED and ev.kind is AlertKind.INTRUSION]
    return starts, analyzer


@pytest.fixture(scope="module")
def labels() -> dict[str, Any]:
    return load_labels(LABELS)


def test_hog_confirms_the_people_walking_into_the_room(labels: dict[str, Any]) -> None:
    # The first two people of the clip (about 46 s of it): each gets an intrusion alert of its own,
    # raised because HOG saw a person on the 160x90 analysis frame, and nothing else alerts.
    events = [tuple(e) for e in labels[PEOPLE]["events"][:2]]
    starts, analyzer = _intrusions_on(PEOPLE, events[-1][1] + 1.0, person_check=True)
    assert analyzer.person is not None
    require(analyzer.person.available, "OpenCV's HOG people detector (opencv-contrib on OpenCV 5)")
    assert analyzer.person.confirmed >= 1 and analyzer.person.unchecked == 0
    inside = [[s.ts for s in starts if t0 - MATCH_S <= s.ts <= t1 + MATCH_S] for t0, t1 in events]
    assert [len(i) for i in inside] == [1, 1] and len(starts) == 2, (inside, [s.ts for s in starts])
    # Soon after each person came in (the target is 0.5 s for motion; HOG needs a frame or two).
    assert all(i[0] - t0 <= 1.0 for i, (t0, _t1) in zip(inside, events, strict=True)), inside


def test_hog_keeps_an_intrusion_zone_quiet_for_cars_on_the_road(labels: dict[str, Any]) -> None:
    # The same zone raises one alert per passing car without the check; with it HOG looks at the
    # cars (regions are scanned) and takes none of them for a person.
    lab = labels[CARS]
    plain, _ = _intrusions_on(CARS, lab["short_end_s"], person_check=False)
    checked, analyzer = _intrusions_on(CARS, lab["short_end_s"], person_check=True)
    assert analyzer.person is not None
    require(analyzer.person.available, "OpenCV's HOG people detector (opencv-contrib on OpenCV 5)")
    assert len(plain) >= len([e for e in lab["events"] if e[1] <= lab["short_end_s"]]) == 3
    assert checked == [] and analyzer.person.checks > 0 and analyzer.person.confirmed == 0
