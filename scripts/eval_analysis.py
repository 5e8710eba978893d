"""Evaluate the frame analysis on the shared clips, with the MOG2 baseline beside every figure.

    .venv/bin/python scripts/eval_analysis.py [--media DIR] [--short] [--json] [--no-bench]

Sections: event-level precision/recall/delay/fragmentation on the hand-labelled clips
(``tests/alerts/labels.json``); hard negatives made from still stretches (lighting step and ramp,
IR switch, sensor noise, shake) that must raise no alert; tamper cases (black, blur, 15 % shift,
frozen) that must raise their alert within 5 s and end when the picture recovers; tamper alerts
on normal footage (must be none); and the cost in ms per analysed frame. The tests run the short
form (``--short``) through :func:`evaluate`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from alerts import perturb  # noqa: E402
from alerts.evaluation import (  # noqa: E402
    Score,
    decode,
    eval_camera,
    intervals,
    load_labels,
    run_analyzer,
    run_mog2,
    score,
)
from alerts.events import AlertKind, AlertType  # noqa: E402
from alerts.motion import MotionDetector  # noqa: E402
from alerts.person import PersonDetector  # noqa: E402
from alerts.pipeline import CameraAnalyzer  # noqa: E402
from hub.config import AnalysisConfig, CameraConfig, ZoneConfig  # noqa: E402

LABELS = REPO / "tests" / "alerts" / "labels.json"
MEDIA = REPO.parent / "shared" / "media"
SCENE_KINDS = {AlertKind.MOTION, AlertKind.INTRUSION, AlertKind.LOITERING, AlertKind.CROWD, AlertKind.LINE_CROSSING}
TAMPER_WITHIN_S = 5.0
"""A tamper case must raise its alert this soon after it starts, and end this soon after recovery."""
NEGATIVE_S = 20.0
"""Length of a hard-negative sequence; the perturbation starts at :data:`NEGATIVE_T0`."""
NEGATIVE_T0 = 8.0
TAMPER_T0, TAMPER_T1 = 15.0, 25.0
TAMPER_CLIP = "one-by-one-person-detection.mp4"


def clips_section(media: Path, labels: dict[str, Any], cfg: CameraConfig, short: bool) -> dict[str, Any]:
    """Precision, recall, delay and fragmentation per clip and pooled, for us and for MOG2."""
    a = cfg.analysis
    ours, base = Score(), Score()
    per_clip: dict[str, Any] = {}
    tamper_on_normal = 0
    for name, lab in labels.items():
        end = lab.get("short_end_s") if short else None
        frames = decode(media / name, a, end)
        truth = [tuple(t) for t in lab["events"] if end is None or t[1] <= end]
        events = run_analyzer(frames, cfg)
        s = score(intervals(events, SCENE_KINDS), truth)
        b = score(run_mog2(frames, a.min_area_fraction), truth)
        tampers = [e for e in events if e.type is AlertType.STARTED and e.kind.is_tamper]
        tamper_on_normal += len(tampers)
        ours.add(s)
        base.add(b)
        per_clip[name] = {"ours": s.as_dict(), "mog2": b.as_dict(), "tamper_alerts": len(tampers)}
    return {"clips": per_clip, "ours": ours.as_dict(), "mog2": base.as_dict(), "tamper_on_normal": tamper_on_normal}


def negatives_section(media: Path, labels: dict[str, Any], cfg: CameraConfig, short: bool) -> dict[str, Any]:
    """Alerts raised on the hard negatives (all kinds for us; any foreground event for MOG2)."""
    a = cfg.analysis
    cases: dict[str, Any] = {}
    ours_total = base_total = 0
    for name, lab in labels.items():
        stills = lab["still"][:1] if short else lab["still"]
        for i, (s0, s1) in enumerate(stills):
            still = perturb.clip_span(decode(media / name, a, s1 + 0.5), s0, s1)
            seq = perturb.pingpong(still, NEGATIVE_S, a.fps)
            for kind, fn in perturb.HARD_NEGATIVES.items():
                frames = fn(seq, NEGATIVE_T0)
                events = [e for e in run_analyzer(frames, cfg) if e.type is AlertType.STARTED]
                base = run_mog2(frames, a.min_area_fraction)
                ours_total += len(events)
                base_total += len(base)
                cases[f"{name}#{i}:{kind}"] = {"ours": [f"{e.kind}@{e.ts:.1f}" for e in events], "mog2": len(base)}
    return {"cases": cases, "ours_alerts": ours_total, "mog2_alerts": base_total, "count": len(cases)}


def tamper_section(media: Path, cfg: CameraConfig, short: bool) -> dict[str, Any]:
    """Each tamper case: caught within 5 s, ended within 5 s of recovery; MOG2's reaction beside."""
    a = cfg.analysis
    base_frames = decode(media / TAMPER_CLIP, a, TAMPER_T1 + 10.0)
    cases: dict[str, Any] = {}
    caught = 0
    base_caught = 0
    for name, (kind, fn) in perturb.TAMPER_CASES.items():
        frames = fn(base_frames, TAMPER_T0, TAMPER_T1)
        events = run_analyzer(frames, cfg)
        mine = [iv for iv in intervals(events, {AlertKind(kind)})]
        hit = next((iv for iv in mine if TAMPER_T0 <= iv[0] <= TAMPER_T0 + TAMPER_WITHIN_S), None)
        ok = hit is not None and hit[1] <= TAMPER_T1 + TAMPER_WITHIN_S and len(mine) == 1
        other = sorted({e.kind.value for e in events if e.type is AlertType.STARTED and e.kind.is_tamper} - {kind})
        caught += ok
        mog = run_mog2(frames, a.min_area_fraction)
        mog_hit = any(TAMPER_T0 <= s <= TAMPER_T0 + TAMPER_WITHIN_S for s, _ in mog)
        base_caught += mog_hit
        cases[name] = {
            "kind": kind,
            "caught": ok,
            "delay_s": None if hit is None else round(hit[0] - TAMPER_T0, 2),
            "ended_after_recovery_s": None if hit is None else round(hit[1] - TAMPER_T1, 2),
            "alerts": len(mine),
            "other_tamper_kinds": other,
            "mog2_any_alert_within_5s": mog_hit,
        }
    return {"cases": cases, "caught": caught, "count": len(cases), "mog2_any_alert": base_caught}


def _timed(analyzer: CameraAnalyzer, frames: list[np.ndarray]) -> list[float]:
    times: list[float] = []
    for i, g in enumerate(frames):
        t0 = time.perf_counter()
        analyzer.process(g, i / 5.0)
        times.append((time.perf_counter() - t0) * 1000.0)
    return times


def cost_section(media: Path, frames_n: int = 300) -> dict[str, Any]:
    """ms per analysed frame at 320x180: the whole stack without and with the person check; MOG2."""
    a = AnalysisConfig(width=320, height=180)
    frames = [g for _, g in decode(media / TAMPER_CLIP, a, None)][:frames_n]
    cam = CameraConfig(id="bench", url="file:///dev/null", analysis=a)
    plain = _timed(CameraAnalyzer(cam), frames)
    zone = ZoneConfig(id="room", kind="intrusion", polygon=[(0, 0), (1, 0), (1, 1), (0, 1)], person_check=True)
    checked = CameraAnalyzer(cam.model_copy(update={"zones": [zone]}))
    assert checked.person is not None
    with_check: list[float] = []
    for i, g in enumerate(frames):
        before = checked.person.checks + checked.person.unchecked
        t0 = time.perf_counter()
        checked.process(g, i / 5.0)
        if checked.person.checks + checked.person.unchecked > before:  # the check ran on this frame
            with_check.append((time.perf_counter() - t0) * 1000.0)
    # The person check alone on frames with motion (HOG on the moving regions), as it runs before a
    # zone's first confirmation.
    motion = MotionDetector("bench", a.width, a.height)
    person = PersonDetector("bench")
    hog_times: list[float] = []
    for g in frames:
        blobs = motion.process(g).blobs
        if blobs:
            t0 = time.perf_counter()
            person.confirm(g, blobs)
            hog_times.append((time.perf_counter() - t0) * 1000.0)
    mog = cv2.createBackgroundSubtractorMOG2()
    mog_times: list[float] = []
    for g in frames:
        t0 = time.perf_counter()
        mog.apply(g)
        mog_times.append((time.perf_counter() - t0) * 1000.0)
    return {
        "size": "320x180",
        "frames": len(frames),
        "stack_ms_median": round(statistics.median(plain), 3),
        "stack_ms_p90": round(statistics.quantiles(plain, n=10)[-1], 3),
        "with_person_check_ms_median": round(statistics.median(with_check), 3) if with_check else None,
        "person_check_frames": len(with_check),
        "person_check_on_motion_frame_ms_median": round(statistics.median(hog_times), 3) if hog_times else None,
        "hog_available": checked.person.available,
        "mog2_ms_median": round(statistics.median(mog_times), 3),
    }


def evaluate(
    media: Path = MEDIA, short: bool = False, bench: bool = True, size: tuple[int, int] | None = None
) -> dict[str, Any]:
    """Every section; ``short`` cuts the clips and cases down for the test suite."""
    labels = load_labels(LABELS)
    analysis = AnalysisConfig() if size is None else AnalysisConfig(width=size[0], height=size[1])
    cfg = eval_camera(analysis)
    out: dict[str, Any] = {
        "real_clips": clips_section(media, labels, cfg, short),
        "hard_negatives": negatives_section(media, labels, cfg, short),
        "tamper": tamper_section(media, cfg, short),
    }
    if bench:
        out["cost"] = cost_section(media)
    return out


def main() -> int:
    """Run the evaluation and print it."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--short", action="store_true", help="the short form the tests run")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-bench", action="store_true", help="skip the cost benchmark")
    ap.add_argument("--size", default=None, help="analysis size WxH (default: the config default, 160x90)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    t0 = time.perf_counter()
    result = evaluate(args.media, args.short, not args.no_bench, size)  # type: ignore[arg-type]
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rc = result["real_clips"]
    print("real clips            ours                         MOG2 baseline")
    for name, c in rc["clips"].items():
        print(f"  {name}\n    ours {c['ours']}\n    mog2 {c['mog2']}\n    tamper alerts on it: {c['tamper_alerts']}")
    print(f"  pooled ours {rc['ours']}\n  pooled mog2 {rc['mog2']}")
    hn = result["hard_negatives"]
    print(f"hard negatives ({hn['count']} cases): ours {hn['ours_alerts']} alerts, MOG2 {hn['mog2_alerts']}")
    for name, c in hn["cases"].items():
        if c["ours"] or c["mog2"]:
            print(f"  {name}: ours {c['ours']} mog2 {c['mog2']}")
    tp = result["tamper"]
    print(
        f"tamper: {tp['caught']}/{tp['count']} caught; MOG2 any alert within 5 s: {tp['mog2_any_alert']}/{tp['count']}"
    )
    for name, c in tp["cases"].items():
        print(f"  {name}: {c}")
    if "cost" in result:
        print(f"cost: {result['cost']}")
    print(f"elapsed {result['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
