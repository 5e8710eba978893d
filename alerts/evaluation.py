"""Scoring the analysis against hand labels, and the plain MOG2 baseline scored the same way.

An alert start is a true positive when it falls inside a labelled event (with a tolerance on
each side); otherwise it is a false alarm. An event is *found* only when an alert starts during it
(its own start): that is what puts it in front of a dispatcher. Starts and events are matched one
to one, nearest first, so one start between two neighbouring events finds only one of them. An
event that got no start of its own but was still covered by an alert that started in an earlier
event is counted apart, as *covered* — the headline recall leaves it out, the covered recall
counts it. The detection delay of an event is its matched alert start minus the event's start,
signed: a start before the labelled start (within the tolerance) is a negative delay, counted as
*early* and kept in the median as it is. Fragmentation is alert starts inside events per labelled
event, and per found event (which a missed event cannot flatter).
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from alerts.config import AnalysedCameraConfig, AnalysisConfig, ZoneConfig
from alerts.events import AlertEvent, AlertKind, AlertType
from alerts.lifecycle import QUIET_S
from alerts.offline import iter_frames
from alerts.perturb import Frames
from alerts.pipeline import CameraAnalyzer

MATCH_TOLERANCE_S = 1.0
"""How far outside a labelled interval an alert start may fall and still belong to it."""
Interval = tuple[float, float]


@dataclass
class Score:
    """Event-level figures of one detector on one or more clips."""

    events: int = 0
    """Labelled events."""
    found: int = 0
    """Events with an alert start of their own."""
    covered: int = 0
    """Events without a start of their own, inside an alert that started in an earlier event."""
    alerts: int = 0
    """Alert starts."""
    true_alerts: int = 0
    """Alert starts inside a labelled event."""
    delays: list[float] = field(default_factory=list)
    """Own alert start minus event start, per found event; negative when the alert came first."""

    @property
    def early(self) -> int:
        """Found events whose alert started before the labelled start (a negative delay)."""
        return sum(1 for d in self.delays if d < 0)

    @property
    def precision(self) -> float:
        """True alert starts / all alert starts (1 when there are none)."""
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        """Events with their own alert start / events (the headline recall)."""
        return self.found / self.events if self.events else 1.0

    @property
    def covered_recall(self) -> float:
        """Events with their own start or covered by an earlier alert / events (the lenient recall)."""
        return (self.found + self.covered) / self.events if self.events else 1.0

    @property
    def starts_per_event(self) -> float:
        """Alert starts inside events / labelled events."""
        return self.true_alerts / self.events if self.events else 0.0

    @property
    def starts_per_found_event(self) -> float:
        """Alert starts inside events / found events (every such start belongs to a found event)."""
        return self.true_alerts / self.found if self.found else 0.0

    @property
    def median_delay_s(self) -> float | None:
        """Median of (own alert start − event start) over found events, early ones negative."""
        return statistics.median(self.delays) if self.delays else None

    def add(self, other: Score) -> None:
        """Pool another clip's figures into this one."""
        self.events += other.events
        self.found += other.found
        self.covered += other.covered
        self.alerts += other.alerts
        self.true_alerts += other.true_alerts
        self.delays += other.delays

    def as_dict(self) -> dict[str, Any]:
        """Rounded figures for printing."""
        d = self.median_delay_s
        return {
            "events": self.events,
            "found": self.found,
            "covered_only": self.covered,
            "alerts": self.alerts,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "covered_recall": round(self.covered_recall, 3),
            "starts_per_event": round(self.starts_per_event, 2),
            "starts_per_found_event": round(self.starts_per_found_event, 2),
            "median_delay_s": None if d is None else round(d, 2),
            "early": self.early,
        }


def match_starts(starts: list[float], truth: list[Interval], tol: float = MATCH_TOLERANCE_S) -> dict[int, int]:
    """Alert starts matched one to one to labelled events: {event index: start index}.

    A start may match an event it falls in (with ``tol`` on each side). Pairs are taken greedily,
    nearest first — by how far the start lies outside the event, then by its distance from the
    event's start — and each start and each event is used at most once.
    """
    pairs = []
    for i, (t0, t1) in enumerate(truth):
        for j, a0 in enumerate(starts):
            if t0 - tol <= a0 <= t1 + tol:
                outside = max(0.0, t0 - a0, a0 - t1)
                pairs.append((outside, abs(a0 - t0), i, j))
    matched: dict[int, int] = {}
    used: set[int] = set()
    for _outside, _dist, i, j in sorted(pairs):
        if i not in matched and j not in used:
            matched[i] = j
            used.add(j)
    return matched


def score(alerts: list[Interval], truth: list[Interval], tol: float = MATCH_TOLERANCE_S) -> Score:
    """Score alert intervals (start, end) against labelled intervals."""
    s = Score(events=len(truth), alerts=len(alerts))
    starts = [a0 for a0, _a1 in alerts]
    for a0 in starts:
        if any(t0 - tol <= a0 <= t1 + tol for t0, t1 in truth):
            s.true_alerts += 1
    matched = match_starts(starts, truth, tol)
    for i, (t0, _t1) in enumerate(truth):
        if i in matched:
            s.found += 1
            s.delays.append(starts[matched[i]] - t0)
        elif any(a0 < t0 - tol and a1 >= t0 for a0, a1 in alerts):
            s.covered += 1
    return s


def intervals(events: list[AlertEvent], kinds: set[AlertKind] | None = None) -> list[Interval]:
    """(start, end) of each alert in a run, optionally only some kinds."""
    starts: dict[str, float] = {}
    out: list[Interval] = []
    for ev in events:
        if kinds is not None and ev.kind not in kinds:
            continue
        if ev.type is AlertType.STARTED:
            starts[ev.alert_id] = ev.ts
        elif ev.type is AlertType.ENDED and ev.alert_id in starts:
            out.append((starts.pop(ev.alert_id), ev.ts))
    out.extend((t, float("inf")) for t in starts.values())
    return sorted(out)


def run_analyzer(frames: Frames, config: AnalysedCameraConfig) -> list[AlertEvent]:
    """Every alert event of the analysis over ``frames`` (open alerts closed at the end)."""
    analyzer = CameraAnalyzer(config)
    events: list[AlertEvent] = []
    for ts, gray in frames:
        events.extend(analyzer.process(gray, ts))
    events.extend(analyzer.close(frames[-1][0] if frames else 0.0))
    return events


def run_mog2(frames: Frames, min_area_fraction: float, quiet_s: float = QUIET_S) -> list[Interval]:
    """The baseline: OpenCV MOG2 with default parameters; any foreground blob over the minimum area
    is an event, ended after the same quiet time the analysis uses."""
    mog = cv2.createBackgroundSubtractorMOG2()
    out: list[Interval] = []
    start: float | None = None
    last = 0.0
    for ts, gray in frames:
        fg = mog.apply(gray)
        _, fg = cv2.threshold(fg, 200, 255, cv2.THRESH_BINARY)  # 127 marks shadows
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_px = min_area_fraction * gray.shape[0] * gray.shape[1]
        hit = any(cv2.contourArea(c) >= min_px for c in contours)
        if hit:
            if start is None:
                start = ts
            last = ts
        elif start is not None and ts - last >= quiet_s:
            out.append((start, ts))
            start = None
    if start is not None:
        out.append((start, frames[-1][0]))
    return out


SCENE_KIND_NAMES = ("motion", "intrusion", "loitering", "crowd", "line_crossing")
"""The alert kinds about the scene (not tamper), as config keys."""


def eval_camera(analysis: AnalysisConfig | None = None, scene_cooldown_s: float | None = None) -> AnalysedCameraConfig:
    """The camera used in the evaluation: no zones (whole-frame motion), the shipped cool-downs.

    ``scene_cooldown_s`` overrides the cool-down of the scene kinds, for the sensitivity table only.
    """
    a = analysis or AnalysisConfig()
    if scene_cooldown_s is not None:
        a = a.model_copy(update={"cooldowns": {**a.cooldowns, **dict.fromkeys(SCENE_KIND_NAMES, scene_cooldown_s)}})
    return AnalysedCameraConfig(id="eval", url="file:///dev/null", analysis=a)


WHOLE_FRAME = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
"""A zone polygon covering the whole picture."""


def zone_camera(analysis: AnalysisConfig | None = None, person_check: bool = False) -> AnalysedCameraConfig:
    """The evaluation camera with one whole-frame intrusion zone at the default intrusion settings,
    with or without the HOG person check."""
    zone = ZoneConfig(id="room", kind="intrusion", polygon=WHOLE_FRAME, person_check=person_check)
    return AnalysedCameraConfig(id="eval", url="file:///dev/null", zones=[zone], analysis=analysis or AnalysisConfig())


def load_labels(path: Path) -> dict[str, Any]:
    """The label file: clip name → what, events, still stretches."""
    data: dict[str, Any] = json.loads(Path(path).read_text())["clips"]
    return data


def decode(path: Path, analysis: AnalysisConfig, end_s: float | None = None) -> Frames:
    """A clip's analysis frames (up to ``end_s``)."""
    out: Frames = []
    for ts, gray in iter_frames(path, analysis.width, analysis.height, analysis.fps):
        if end_s is not None and ts >= end_s:
            break
        out.append((ts, np.ascontiguousarray(gray)))
    return out
