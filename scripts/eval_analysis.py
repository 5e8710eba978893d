"""Evaluate the frame analysis on the shared clips, with the MOG2 baseline beside every figure.

    .venv/bin/python scripts/eval_analysis.py [--media DIR] [--short] [--json] [--no-bench] [--no-heldout]

Sections: event-level precision/recall/delay/fragmentation on the hand-labelled clips
(``tests/alerts/labels.json``); hard negatives made from still stretches (lighting step and ramp,
IR switch, sensor noise, shake) that must raise no alert; the same figures for a whole-frame
intrusion zone, and for that zone with the HOG person check (scored on the clip of people, its
alerts on the clips of cars and of a hand counted apart); tamper cases (black, blur, 15 % shift,
frozen) that must raise their alert within 5 s and end when the picture recovers; tamper alerts
on normal footage (must be none); how the scene cool-down trades recall against alert starts
(1, 5 and 30 s); a leave-one-clip-out report (the split gap chosen on two clips, scored on the
third: the held-out figures beside the tuned-on ones); and the cost in ms per analysed frame. The
tests run the short form (``--short``, no held-out report, no cool-down table) through
:func:`evaluate`. Everything runs with the shipped defaults (``AnalysisConfig()``), cool-downs
included, except the cool-down table, which varies them.

Recall is counted on events that got an alert start of their own (starts and events matched one
to one); events only covered by an alert that started in an earlier event are reported beside it
as the covered recall.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
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
from alerts import zones as zones_mod  # noqa: E402
from alerts.config import AnalysisConfig, ZoneConfig  # noqa: E402
from alerts.evaluation import (  # noqa: E402
    Score,
    decode,
    eval_camera,
    intervals,
    load_labels,
    run_analyzer,
    run_mog2,
    score,
    zone_camera,
)
from alerts.events import AlertKind, AlertType  # noqa: E402
from alerts.motion import MotionDetector  # noqa: E402
from alerts.person import PersonDetector  # noqa: E402
from alerts.pipeline import CameraAnalyzer  # noqa: E402
from hub.config import CameraConfig  # noqa: E402

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
PERSON_CLIPS = ("one-by-one-person-detection.mp4",)
"""The clips whose labelled events are people walking (the others: cars on a road, a hand moving
bottles on a table): where an intrusion zone with the person check is expected to alert."""
TUNABLES: dict[str, tuple[Any, str, tuple[float, ...]]] = {
    "split_gap_s": (zones_mod, "SPLIT_GAP_S", (1.0, 1.5, 2.5)),
}
"""The constants re-chosen per fold of the held-out report: name → (module, constant, grid).

The split gap was added to give each event its own alert and tuned on the bottle clip. The ghost
edge ratio (added with it) was dropped from the grid: with ghost absorption switched off entirely
no real clip's figures change, so the clips cannot tell its values apart. The older constants
(thresholds, learning rates) were set looking at all three clips and are not re-chosen."""
SENSITIVITY_COOLDOWNS_S = (1.0, 5.0, 30.0)
"""Scene cool-downs of the sensitivity table."""


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


def cooldown_section(media: Path, labels: dict[str, Any], analysis: AnalysisConfig) -> dict[str, Any]:
    """Own-start recall and alert starts per event on the real clips at other scene cool-downs."""
    out: dict[str, Any] = {}
    for c in SENSITIVITY_COOLDOWNS_S:
        pooled = clips_section(media, labels, eval_camera(analysis, scene_cooldown_s=c), False)["ours"]
        out[f"{c:g}"] = {
            k: pooled[k]
            for k in ("found", "events", "recall", "precision", "starts_per_event", "starts_per_found_event")
        }
    return out


def hard_negative_cases(
    media: Path, labels: dict[str, Any], analysis: AnalysisConfig, short: bool
) -> dict[str, perturb.Frames]:
    """The hard negatives: every perturbation on every still stretch (the first per clip when short)."""
    cases: dict[str, perturb.Frames] = {}
    for name, lab in labels.items():
        stills = lab["still"][:1] if short else lab["still"]
        for i, (s0, s1) in enumerate(stills):
            still = perturb.clip_span(decode(media / name, analysis, s1 + 0.5), s0, s1)
            seq = perturb.pingpong(still, NEGATIVE_S, analysis.fps)
            for kind, fn in perturb.HARD_NEGATIVES.items():
                cases[f"{name}#{i}:{kind}"] = fn(seq, NEGATIVE_T0)
    return cases


def negatives_section(cases: dict[str, perturb.Frames], cfg: CameraConfig) -> dict[str, Any]:
    """Alerts raised on the hard negatives (all kinds for us; any foreground event for MOG2)."""
    out: dict[str, Any] = {}
    ours_total = base_total = 0
    for name, frames in cases.items():
        events = [e for e in run_analyzer(frames, cfg) if e.type is AlertType.STARTED]
        base = run_mog2(frames, cfg.analysis.min_area_fraction)
        ours_total += len(events)
        base_total += len(base)
        out[name] = {"ours": [f"{e.kind}@{e.ts:.1f}" for e in events], "mog2": len(base)}
    return {"cases": out, "ours_alerts": ours_total, "mog2_alerts": base_total, "count": len(out)}


def _starts(cases: dict[str, perturb.Frames], cfg: CameraConfig) -> int:
    """Alert starts of any kind over all ``cases``."""
    return sum(1 for frames in cases.values() for e in run_analyzer(frames, cfg) if e.type is AlertType.STARTED)


def zones_section(
    media: Path,
    labels: dict[str, Any],
    analysis: AnalysisConfig,
    short: bool,
    negatives: dict[str, perturb.Frames],
) -> dict[str, Any]:
    """A whole-frame intrusion zone at the default intrusion settings, without and with the person
    check, scored like the motion section, MOG2 beside.

    The plain zone is scored on every clip's events. The person-check zone is scored on the clips
    whose events are people (:data:`PERSON_CLIPS`); on the others (cars, a hand moving bottles) every
    alert it raises is counted apart, beside what the same zone without the check raises there.
    """
    plain_cfg, checked_cfg = zone_camera(analysis), zone_camera(analysis, person_check=True)
    plain, checked, base, base_people = Score(), Score(), Score(), Score()
    per_clip: dict[str, Any] = {}
    elsewhere: dict[str, Any] = {}
    for name, lab in labels.items():
        end = lab.get("short_end_s") if short else None
        frames = decode(media / name, analysis, end)
        truth = [tuple(t) for t in lab["events"] if end is None or t[1] <= end]
        p = score(intervals(run_analyzer(frames, plain_cfg), SCENE_KINDS), truth)
        analyzer = CameraAnalyzer(checked_cfg)
        events = [e for ts, g in frames for e in analyzer.process(g, ts)] + analyzer.close(frames[-1][0])
        b = score(run_mog2(frames, analysis.min_area_fraction), truth)
        plain.add(p)
        base.add(b)
        person = analyzer.person
        hog = {
            "hog_available": person is not None and person.available,
            "hog_regions_scanned": 0 if person is None else person.checks,
            "hog_confirmed": 0 if person is None else person.confirmed,
        }
        clip: dict[str, Any] = {"intrusion": p.as_dict(), "mog2": b.as_dict(), **hog}
        if name in PERSON_CLIPS:
            c = score(intervals(events, SCENE_KINDS), truth)
            checked.add(c)
            base_people.add(b)
            clip["intrusion_person_check"] = c.as_dict()
        else:
            starts = sum(1 for e in events if e.type is AlertType.STARTED)
            clip["intrusion_person_check_alerts"] = starts
            elsewhere[name] = {"what": lab["what"], "person_check": starts, "without_check": p.alerts, **hog}
        per_clip[name] = clip
    return {
        "clips": per_clip,
        "intrusion": {**plain.as_dict(), "hard_negative_alerts": _starts(negatives, plain_cfg)},
        "mog2": base.as_dict(),
        "intrusion_person_check": {
            **checked.as_dict(),
            "clips": list(PERSON_CLIPS),
            "hard_negative_alerts": _starts(negatives, checked_cfg),
        },
        "mog2_person_clips": base_people.as_dict(),
        "person_check_on_clips_without_people": elsewhere,
    }


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


@contextlib.contextmanager
def constants(values: dict[str, float]) -> Any:
    """Set the :data:`TUNABLES` to ``values`` for the duration (restored afterwards)."""
    saved = {name: getattr(TUNABLES[name][0], TUNABLES[name][1]) for name in values}
    try:
        for name, v in values.items():
            setattr(TUNABLES[name][0], TUNABLES[name][1], v)
        yield
    finally:
        for name, v in saved.items():
            setattr(TUNABLES[name][0], TUNABLES[name][1], v)


def _objective(s: Score, negatives: int) -> float:
    """What a fold maximises on its tuning clips: recall and precision, minus fragmentation and
    any alert on a hard negative (a hard negative alert outweighs everything else)."""
    return s.recall + s.precision - max(0.0, s.starts_per_event - 1.0) - 10.0 * negatives


def heldout_section(media: Path, labels: dict[str, Any], cfg: CameraConfig) -> dict[str, Any]:
    """Leave one clip out: choose the :data:`TUNABLES` on the other clips (their events and hard
    negatives), then score the left-out clip with that choice.

    When the tuning clips cannot tell candidates apart, any tie-break would be a choice made on all
    clips (shipped values were chosen looking at the held-out one too), so the headline held-out
    figure is the *worst* tied candidate on the held-out clip. The shipped-values tie-break is
    shown beside it."""
    a = cfg.analysis
    clips = {name: decode(media / name, a) for name in labels}
    negs: dict[str, list[Any]] = {}
    for name, lab in labels.items():
        negs[name] = []
        for s0, s1 in lab["still"]:
            still = perturb.clip_span(clips[name], s0, s1)
            seq = perturb.pingpong(still, NEGATIVE_S, a.fps)
            negs[name] += [fn(seq, NEGATIVE_T0) for fn in perturb.HARD_NEGATIVES.values()]
    shipped = {name: getattr(mod, const) for name, (mod, const, _grid) in TUNABLES.items()}
    grid = [
        dict(zip(TUNABLES, combo, strict=True)) for combo in itertools.product(*(g for _, _, g in TUNABLES.values()))
    ]
    # Every candidate on every clip once; the folds only pick from these.
    runs: dict[int, dict[str, tuple[Score, int]]] = {}
    for i, values in enumerate(grid):
        runs[i] = {}
        with constants(values):
            for name, lab in labels.items():
                truth = [tuple(t) for t in lab["events"]]
                sc = score(intervals(run_analyzer(clips[name], cfg), SCENE_KINDS), truth)
                raised = sum(1 for f in negs[name] for e in run_analyzer(f, cfg) if e.type is AlertType.STARTED)
                runs[i][name] = (sc, raised)
    folds: dict[str, Any] = {}
    pooled, pooled_shipped, pooled_base = Score(), Score(), Score()
    pooled_neg = pooled_shipped_neg = 0
    for held in labels:
        tune = [n for n in labels if n != held]

        def fold_score(i: int, tune: list[str] = tune) -> tuple[float, bool]:
            total, neg = Score(), 0
            for n in tune:
                total.add(runs[i][n][0])
                neg += runs[i][n][1]
            return _objective(total, neg), grid[i] == shipped

        best = max(range(len(grid)), key=fold_score)
        ties = [i for i in range(len(grid)) if fold_score(i)[0] == fold_score(best)[0]]
        worst = min(ties, key=lambda i: _objective(runs[i][held][0], runs[i][held][1]))
        sc, raised = runs[worst][held]
        shipped_sc, shipped_raised = runs[best][held]
        truth = [tuple(t) for t in labels[held]["events"]]
        base = score(run_mog2(clips[held], a.min_area_fraction), truth)
        pooled.add(sc)
        pooled_shipped.add(shipped_sc)
        pooled_base.add(base)
        pooled_neg += raised
        pooled_shipped_neg += shipped_raised
        folds[held] = {
            "tied_candidates": len(ties),
            "worst_tied": grid[worst],
            "held_out": sc.as_dict(),
            "held_out_hard_negative_alerts": raised,
            "tie_break_shipped": {**grid[best], **shipped_sc.as_dict(), "hard_negative_alerts": shipped_raised},
            "mog2": base.as_dict(),
        }
    shipped_i = grid.index(shipped) if shipped in grid else None
    tuned_on = Score()
    if shipped_i is not None:
        for n in labels:
            tuned_on.add(runs[shipped_i][n][0])
    return {
        "tunables": {n: {"shipped": shipped[n], "grid": list(g)} for n, (_, _, g) in TUNABLES.items()},
        "folds": folds,
        "pooled_held_out": pooled.as_dict(),
        "pooled_held_out_hard_negative_alerts": pooled_neg,
        "pooled_held_out_tie_break_shipped": pooled_shipped.as_dict(),
        "pooled_held_out_tie_break_shipped_hard_negative_alerts": pooled_shipped_neg,
        "pooled_mog2": pooled_base.as_dict(),
        "tuned_on_all_clips": tuned_on.as_dict(),
        "note": (
            "Leave-one-clip-out over the split gap, the constant added for own-start recall; the "
            "pooled figure takes, per fold, the worst of the candidates the other clips cannot tell "
            "apart. Every other constant was set looking at all three clips and is not re-chosen, so "
            "these figures bound only the overfitting of the split gap."
        ),
    }


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
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }


def evaluate(
    media: Path = MEDIA,
    short: bool = False,
    bench: bool = True,
    size: tuple[int, int] | None = None,
    heldout: bool | None = None,
) -> dict[str, Any]:
    """Every section; ``short`` cuts the clips and cases down for the test suite (and skips the
    held-out report unless ``heldout`` asks for it)."""
    labels = load_labels(LABELS)
    analysis = AnalysisConfig() if size is None else AnalysisConfig(width=size[0], height=size[1])
    cfg = eval_camera(analysis)
    negatives = hard_negative_cases(media, labels, analysis, short)
    out: dict[str, Any] = {
        "real_clips": clips_section(media, labels, cfg, short),
        "hard_negatives": negatives_section(negatives, cfg),
        "zones": zones_section(media, labels, analysis, short, negatives),
        "tamper": tamper_section(media, cfg, short),
    }
    if not short:
        out["cooldown_sensitivity"] = cooldown_section(media, labels, analysis)
    if heldout if heldout is not None else not short:
        out["held_out"] = heldout_section(media, labels, cfg)
    if bench:
        out["cost"] = cost_section(media)
    return out


ZONE_FIGURES = ("recall", "precision", "starts_per_event", "starts_per_found_event", "median_delay_s", "early")
"""The figures printed per detector in the zones section."""


def _figures(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {d[k]}" for k in ZONE_FIGURES)


def _print_zones(z: dict[str, Any], hn: dict[str, Any]) -> None:
    pc = z["intrusion_person_check"]
    print("whole-frame intrusion zone (default intrusion settings), all clips")
    print(f"  zone      {_figures(z['intrusion'])}")
    print(f"  mog2      {_figures(z['mog2'])}")
    print(f"  hard-negative alerts: zone {z['intrusion']['hard_negative_alerts']}, MOG2 {hn['mog2_alerts']}")
    print(f"the same zone with person_check, on the clips of people ({', '.join(pc['clips'])})")
    print(f"  zone+HOG  {_figures(pc)}")
    print(f"  mog2      {_figures(z['mog2_person_clips'])}")
    print(f"  hard-negative alerts: zone+HOG {pc['hard_negative_alerts']}")
    for name, c in z["clips"].items():
        print(f"  {name}: HOG scanned {c['hog_regions_scanned']} regions, confirmed {c['hog_confirmed']}")
    for name, c in z["person_check_on_clips_without_people"].items():
        print(f"  {name} ({c['what']}): alerts with person_check {c['person_check']}, without {c['without_check']}")


def main() -> int:
    """Run the evaluation and print it."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--short", action="store_true", help="the short form the tests run")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-bench", action="store_true", help="skip the cost benchmark")
    ap.add_argument("--no-heldout", action="store_true", help="skip the leave-one-clip-out report")
    ap.add_argument("--size", default=None, help="analysis size WxH (default: the config default, 160x90)")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x")) if args.size else None
    t0 = time.perf_counter()
    heldout = False if args.no_heldout else None
    result = evaluate(args.media, args.short, not args.no_bench, size, heldout)  # type: ignore[arg-type]
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    rc = result["real_clips"]
    print("real clips            ours                         MOG2 baseline")
    for name, c in rc["clips"].items():
        print(f"  {name}\n    ours {c['ours']}\n    mog2 {c['mog2']}\n    tamper alerts on it: {c['tamper_alerts']}")
    print(f"  pooled ours {rc['ours']}\n  pooled mog2 {rc['mog2']}")
    o, m = rc["ours"], rc["mog2"]
    print(
        "  headline (tuned on these labels):\n"
        f"    recall, own alert start   ours {o['recall']:.3f}  MOG2 {m['recall']:.3f}\n"
        f"    recall, covered by earlier ours {o['covered_recall']:.3f}  MOG2 {m['covered_recall']:.3f}\n"
        f"    precision                 ours {o['precision']:.3f}  MOG2 {m['precision']:.3f}\n"
        f"    alert starts per event    ours {o['starts_per_event']:.2f}  MOG2 {m['starts_per_event']:.2f}\n"
        f"    starts per found event    ours {o['starts_per_found_event']:.2f}  "
        f"MOG2 {m['starts_per_found_event']:.2f}\n"
        f"    median delay (s)          ours {o['median_delay_s']}  MOG2 {m['median_delay_s']}\n"
        f"    early starts (negative)   ours {o['early']}  MOG2 {m['early']}"
    )
    if "cooldown_sensitivity" in result:
        print("scene cool-down (shipped: motion/intrusion/line 1.5 s)  own-start recall  starts/event  starts/found")
        for c, f in result["cooldown_sensitivity"].items():
            print(
                f"  {c:>4} s  {f['found']}/{f['events']} ({f['recall']:.3f})  "
                f"{f['starts_per_event']:.2f}  {f['starts_per_found_event']:.2f}  precision {f['precision']:.3f}"
            )
    hn = result["hard_negatives"]
    print(f"hard negatives ({hn['count']} cases): ours {hn['ours_alerts']} alerts, MOG2 {hn['mog2_alerts']}")
    for name, c in hn["cases"].items():
        if c["ours"] or c["mog2"]:
            print(f"  {name}: ours {c['ours']} mog2 {c['mog2']}")
    _print_zones(result["zones"], hn)
    tp = result["tamper"]
    print(
        f"tamper: {tp['caught']}/{tp['count']} caught; MOG2 any alert within 5 s: {tp['mog2_any_alert']}/{tp['count']}"
    )
    for name, c in tp["cases"].items():
        print(f"  {name}: {c}")
    if "held_out" in result:
        ho = result["held_out"]
        print(f"held out (leave one clip out; {ho['note']})")
        print(f"  tunables {ho['tunables']}")
        for name, f in ho["folds"].items():
            print(
                f"  {name}: {f['tied_candidates']} candidates tie on the others; the worst of them held out "
                f"{f['worst_tied']}: {f['held_out']} hard-negative alerts {f['held_out_hard_negative_alerts']}\n"
                f"    tie-break to the shipped values: {f['tie_break_shipped']}\n    mog2 {f['mog2']}"
            )
        print(
            f"  pooled held-out ours (worst tied) {ho['pooled_held_out']} hard-negative alerts "
            f"{ho['pooled_held_out_hard_negative_alerts']}"
        )
        print(
            f"  pooled held-out ours (tie-break shipped) {ho['pooled_held_out_tie_break_shipped']} "
            f"hard-negative alerts {ho['pooled_held_out_tie_break_shipped_hard_negative_alerts']}"
        )
        print(f"  pooled mog2          {ho['pooled_mog2']}")
        print(f"  tuned on all clips   {ho['tuned_on_all_clips']}")
    if "cost" in result:
        c = result["cost"]
        print(f"cost at {c['size']} (load average {c['load_average']}): {c}")
    print(f"elapsed {result['elapsed_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
